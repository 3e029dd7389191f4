"""The OCI runtime-tools library against our runtime: its validator checks the configs we write,
and a config its generator writes runs under mkpy-runc.

Debian's golang-github-opencontainers-runtime-tools-dev has the library (validate, generate) but
not runtime-tools' validation suite (validation/*, runtimetest); ocitools/main.go is our small
command over the library, built offline here (docs/runtime.md, "Checked against runtime-tools").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from minikube_py.runtime import capabilities

pytestmark = [pytest.mark.integration]

GOPATH = "/usr/share/gocode"
LIBRARY = f"{GOPATH}/src/github.com/opencontainers/runtime-tools/validate"
SOURCE = Path(__file__).parent / "ocitools"


@pytest.fixture(scope="module")
def ocitools(tmp_path_factory) -> str:
    if not shutil.which("go") or not os.path.isdir(LIBRARY):
        pytest.skip("needs golang-go and golang-github-opencontainers-runtime-tools-dev (scripts/setup.sh)")
    out = tmp_path_factory.mktemp("ocitools")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOCACHE": str(out / "cache"),
           "GOFLAGS": "", "CGO_ENABLED": "0"}
    done = subprocess.run(["go", "build", "-o", str(out / "ocitools"), "."], cwd=SOURCE, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return str(out / "ocitools")


def _bundle(tmp_path: Path, rootfs: Path, name: str) -> Path:
    """A bundle dir whose root.path "rootfs" is inside it (the validator wants a child)."""
    bundle = tmp_path / name
    bundle.mkdir()
    (bundle / "rootfs").symlink_to(rootfs)
    return bundle


def _validate(ocitools: str, bundle: Path) -> subprocess.CompletedProcess:
    return subprocess.run([ocitools, "validate", str(bundle)], capture_output=True, text=True, timeout=60)


def test_the_configs_we_write_pass_the_runtime_tools_validator(rt, tmp_path, busybox_rootfs, ocitools):
    bundle = _bundle(tmp_path, busybox_rootfs, "spec")
    rt.cli("spec", "--bundle", str(bundle))
    done = _validate(ocitools, bundle)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stdout + done.stderr

    # The tests' own configs (runc's default plus changes), with hooks, rlimits and sysctls.
    _, made = rt.bundle(["true"], **{
        "hooks": {"prestart": [{"path": "/bin/true", "args": ["true"]}]},
        "process.rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}],
        "linux.sysctl": {"net.ipv4.ip_forward": "1"},
        "linux.rootfsPropagation": "slave",
    })
    config = json.loads((made / "config.json").read_text())
    config["root"]["path"] = "rootfs"
    bundle = _bundle(tmp_path, busybox_rootfs, "rich")
    (bundle / "config.json").write_text(json.dumps(config))
    done = _validate(ocitools, bundle)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stdout + done.stderr


def test_the_validator_and_the_runtime_reject_the_same_bad_config(rt, tmp_path, busybox_rootfs, ocitools):
    cid, made = rt.bundle(["true"], **{"process.capabilities.bounding": ["CAP_BOGUS"]})
    config = json.loads((made / "config.json").read_text())
    config["root"]["path"] = "rootfs"
    bundle = _bundle(tmp_path, busybox_rootfs, "bad")
    (bundle / "config.json").write_text(json.dumps(config))
    done = _validate(ocitools, bundle)
    assert done.returncode == 1 and "CAP_BOGUS" in done.stdout, done.stdout
    ours = rt.cli("create", "--bundle", str(made), cid, check=False)
    assert ours.returncode != 0 and "CAP_BOGUS" in ours.stderr
    assert not (rt.root / cid).exists()


def test_a_config_runtime_tools_generates_runs_under_mkpy_runc(rt, tmp_path, busybox_rootfs, ocitools):
    cid = rt.new_id()
    bundle = _bundle(tmp_path, busybox_rootfs, "generated")
    done = subprocess.run([ocitools, "generate", str(bundle), "rootfs", cid, "sh", "-c",
                           "hostname; grep -E '^Cap(Eff|Bnd)' /proc/self/status"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
    config = json.loads((bundle / "config.json").read_text())
    assert _validate(ocitools, bundle).stdout.strip() == "ok"
    run = rt.cli("run", "--bundle", str(bundle), cid)
    lines = run.stdout.splitlines()
    assert lines[0] == config["hostname"]  # runtime-tools' default hostname
    caps = {line.split(":")[0]: int(line.split()[1], 16) for line in lines[1:]}
    for field, key in (("effective", "CapEff"), ("bounding", "CapBnd")):
        want = sum(1 << capabilities.to_number(n) for n in config["process"]["capabilities"][field])
        assert caps[key] == want, (field, hex(caps[key]), hex(want))
    assert not (rt.root / cid).exists()
