"""`mkpy node up/exec/shell/down` as a student runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def mkpy(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "minikube_py.cli.main", *args], capture_output=True, text=True, **kw
    )


def test_node_up_exec_shell_down(uid, tmp_path):
    name = f"mkpyt-net-{uid}-cli"
    common = ["--name", name]
    up = mkpy("node", "up", *common, "--pod-cidr", "10.244.7.0/24", "--state-root", str(tmp_path))
    try:
        assert up.returncode == 0, up.stderr
        st = mkpy("node", "status", *common)
        assert st.returncode == 0 and "mkpy0" in st.stdout and "10.244.7.1/24" in st.stdout, st.stderr
        out = mkpy("node", "exec", *common, "--", "ip", "-br", "addr", "show", "mkpy0")
        assert out.returncode == 0 and "10.244.7.1/24" in out.stdout
        sh = mkpy(
            "node",
            "shell",
            *common,
            input="cat /proc/sys/net/ipv4/ip_forward; ip -br link\n",
            env={
                "SHELL": "/bin/sh",
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "PYTHONPATH": os.environ["PYTHONPATH"],
            },
        )
        assert sh.returncode == 0 and sh.stdout.startswith("1\n") and "mkpy0" in sh.stdout
        missing = mkpy("node", "exec", "--name", f"mkpyt-net-{uid}-none", "--", "true")
        assert missing.returncode != 0 and "not a network namespace" in missing.stderr
    finally:
        down = mkpy("node", "down", *common, "--state-root", str(tmp_path))
    assert down.returncode == 0, down.stderr
