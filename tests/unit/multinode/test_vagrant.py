"""The lab cluster's Vagrantfile validates (offline, no provider needed) and rejects bad settings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed")


def validate(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    # A copy, so `vagrant` writes its .vagrant/ dir and VAGRANT_HOME under tmp, not in the repo.
    proj = tmp_path / "proj"
    if not proj.exists():
        proj.mkdir()
        shutil.copy(REPO / "Vagrantfile", proj / "Vagrantfile")
        shutil.copytree(REPO / "vagrant", proj / "vagrant")
    full = {
        **os.environ,
        "VAGRANT_HOME": str(tmp_path / "vagrant.d"),
        "VAGRANT_CHECKPOINT_DISABLE": "1",
        **env,
    }
    return subprocess.run(
        ["vagrant", "validate", "--ignore-provider"],
        cwd=proj,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_default_layout_validates(tmp_path):
    res = validate(tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Vagrantfile validated successfully" in res.stdout
    assert [ln.split(":")[0].split()[-1] for ln in res.stdout.splitlines() if "Ignoring" in ln] == [
        "cp",
        "w1",
        "w2",
    ]


def test_three_workers_and_etcd_validate(tmp_path):
    res = validate(tmp_path, MKPY_WORKERS="3", MKPY_ETCD="3", MKPY_BOX="bento/ubuntu-24.04")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "w3:" in res.stdout


@pytest.mark.parametrize(
    "env,message",
    [
        ({"MKPY_WORKERS": "0"}, "MKPY_WORKERS must be"),
        ({"MKPY_ETCD": "3", "MKPY_WORKERS": "1"}, "MKPY_ETCD=3"),
    ],
)
def test_bad_settings_are_named(tmp_path, env, message):
    res = validate(tmp_path, **env)
    assert res.returncode != 0 and message in res.stdout + res.stderr


def test_provision_script_parses_and_checks_its_role():
    assert subprocess.run(["bash", "-n", str(REPO / "vagrant/provision.sh")]).returncode == 0
