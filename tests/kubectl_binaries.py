"""The real kubectl binaries the suites drive: the newest bundled one and Debian's 1.20.

/usr/bin/kubectl on these machines is a dispatcher over bundled kubectl 1.27-1.33; 1.20 comes
from Debian's kubernetes-client .deb, whose /usr/bin/kubectl clashes with the dispatcher, so it is
only extracted (`dpkg-deb -x`) into a test directory. A conftest that wants the `kubectl_120`
fixture imports it from here (`from kubectl_binaries import kubectl_120  # noqa: F401`).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

BUNDLED = "/usr/lib/google-cloud-sdk/bin"
NEWEST = f"{BUNDLED}/kubectl.1.33"

_extracted: dict[str, str] = {}  # one download per pytest session, whichever conftest asks first


def fetch_kubectl_120(workdir: str) -> str:
    """Path of a kubectl 1.20: MKPY_KUBECTL_1_20 if it names one, else Debian's .deb extracted
    under workdir. Raises RuntimeError saying why when neither works."""
    given = os.environ.get("MKPY_KUBECTL_1_20", "")
    if given and os.access(given, os.X_OK):
        return given
    if "path" in _extracted:
        return _extracted["path"]
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise RuntimeError("no apt-get/dpkg-deb to fetch kubectl 1.20 (or set MKPY_KUBECTL_1_20)")
    got = subprocess.run(
        ["apt-get", "download", "kubernetes-client"], cwd=workdir, capture_output=True, timeout=120
    )
    debs = sorted(f for f in os.listdir(workdir) if f.startswith("kubernetes-client_") and f.endswith(".deb"))
    if got.returncode != 0 or not debs:
        raise RuntimeError(f"apt-get download kubernetes-client failed: {got.stderr.decode()[-300:]}")
    root = os.path.join(workdir, "root")
    subprocess.run(["dpkg-deb", "-x", os.path.join(workdir, debs[0]), root], check=True, timeout=60)
    _extracted["path"] = os.path.join(root, "usr/bin/kubectl")
    return _extracted["path"]


@pytest.fixture(scope="session")
def kubectl_120(tmp_path_factory) -> str:
    """kubectl 1.20 (see fetch_kubectl_120); skips the test when it cannot be had."""
    try:
        return fetch_kubectl_120(str(tmp_path_factory.mktemp("mkpyt-k120")))
    except RuntimeError as exc:
        pytest.skip(str(exc))


def kubectl_binary(request: pytest.FixtureRequest, version: str) -> str:
    """ "1.20" -> the extracted 1.20, "1.33"/"newest" -> the newest bundled kubectl (skip if absent)."""
    if version == "1.20":
        return request.getfixturevalue("kubectl_120")
    if not os.path.exists(NEWEST):
        pytest.skip(f"{NEWEST} (the bundled kubectl) is not installed")
    return NEWEST
