"""API server fixtures: the same behaviour suite runs on SQLite and on a real etcd."""

from __future__ import annotations

import shutil

import pytest

from minikube_py.api.storage.encryption import write_key_file
from minikube_py.api.testing import EtcdProcess, ThreadedApiServer


@pytest.fixture(scope="session")
def etcd():
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed (apt-get install etcd-server)")
    proc = EtcdProcess(progress_interval="300ms").start()
    yield proc
    proc.stop()


@pytest.fixture(params=["sqlite", "etcd"])
def api(request, tmp_path):
    """A running API server (token auth on TCP, a unix socket, Secrets encrypted) on either store."""
    if request.param == "etcd":
        etcd = request.getfixturevalue("etcd")
        etcd.wipe()
        url = f"etcd://{etcd.endpoint}"
    else:
        url = f"sqlite://{tmp_path}/state.db"
    key_file = str(tmp_path / "enc.key")
    write_key_file(key_file)
    server = ThreadedApiServer(
        url, socket_path=str(tmp_path / "api.sock"), encryption_key_file=key_file, bookmark_interval=0.3
    )
    server.store = request.param  # type: ignore[attr-defined]
    server.tmp = tmp_path  # type: ignore[attr-defined]
    server.start()
    yield server
    server.stop()
