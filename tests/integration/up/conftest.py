"""A cluster for one test: its own tmp roots, node netns, pod netns prefix and free ports."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from minikube_py.api.testing import free_port


@contextlib.contextmanager
def cluster_environment(prefix: str = "mkpyt-up"):
    """Environment variables that point `mkpy up/down/demo` at tmp dirs (see minikube_py/cluster/cli.py),
    every name starting with `prefix`. Whatever happens inside, `mkpy down` runs at the end. The root
    is not pytest's tmp_path: another pytest session on the machine prunes old /tmp/pytest-of-*/ dirs,
    a running cluster's included."""
    tmp_path = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    tag = secrets.token_hex(3)
    env = dict(os.environ)
    env.update(
        MKPY_TEST_ROOT=str(tmp_path),
        MKPY_STATE_ROOT=str(tmp_path / "state"),
        MKPY_RUN_ROOT=str(tmp_path / "run"),
        MKPY_LOG_DIR=str(tmp_path / "log"),
        MKPY_KUBECONFIG=str(tmp_path / "admin.kubeconfig"),
        MKPY_NODE_NAME=f"{prefix}-{tag}",
        MKPY_NODE_NETNS=f"{prefix}-{tag}",
        MKPY_NETNS_PREFIX=f"{prefix}-{tag}-",
        MKPY_API_PORT=str(free_port()),
        MKPY_KUBELET_PORT=str(free_port()),
        MKPY_REGISTRY_PORT=str(free_port()),
    )
    try:
        yield env
    finally:
        if os.path.exists(os.path.join(env["MKPY_RUN_ROOT"], "cluster.json")):
            res = mkpy(env, "down", timeout=180)
            if res.returncode != 0:
                print(res.stdout, res.stderr)
        logs = tmp_path / "log"
        if logs.is_dir():  # keep nothing, but show the logs of a failed run in pytest's report
            for log in sorted(logs.glob("*.log")):
                print(f"--- {log.name}\n{log.read_text()[-3000:]}")
        shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture
def cluster_env():
    with cluster_environment() as env:
        yield env


def mkpy(env: dict, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minikube_py", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
