"""The API server on a real 3-member etcd: losing one member loses nothing; a restart keeps all."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from minikube_py.api.errors import ApiError
from minikube_py.api.storage.etcd import EtcdBackend
from minikube_py.api.testing import ThreadedApiServer

from .etcdcluster import EtcdCluster

pytestmark = pytest.mark.integration


def cm(name: str, value: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}


def eventually(fn, timeout: float = 20.0):
    """During a leader election etcd answers 'leader changed' / 'no leader' for a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ApiError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_endpoints_are_parsed_and_validated():
    b = EtcdBackend("etcd://10.0.0.1:2379,10.0.0.2:2379")
    assert b.endpoints == ["http://10.0.0.1:2379", "http://10.0.0.2:2379"] and b.base == b.endpoints[0]
    with pytest.raises(ValueError, match="store"):
        EtcdBackend("etcd://10.0.0.1:2379,")


@pytest.fixture
def etcd3():
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed (apt-get install etcd-server)")
    cluster = EtcdCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_one_member_lost_reads_and_writes_go_on_and_a_restart_keeps_everything(etcd3, tmp_path):
    api = ThreadedApiServer(etcd3.url, token="mkpyt-mn-admin").start()
    try:
        c = api.client
        c.create(cm("before", "1"))
        rv = c.get("configmaps", "before")["metadata"]["resourceVersion"]
        watch = c.watch("configmaps", "default", resource_version=rv)
        seen: list[str] = []
        t = threading.Thread(
            target=lambda: seen.extend(e["object"]["metadata"]["name"] for e in watch), daemon=True
        )
        t.start()
        # the member the API server talks to goes away (the first one it tries)
        assert api.server.backend.base.endswith(str(etcd3.client_ports[0]))
        etcd3.stop_member(0)
        eventually(lambda: c.create(cm("after", "2")))
        assert c.get("configmaps", "before")["data"] == {"v": "1"}
        assert {i["metadata"]["name"] for i in c.list("configmaps", "default")["items"]} >= {
            "before",
            "after",
        }
        eventually(lambda: c.patch("configmaps", "before", {"data": {"v": "3"}}))
        assert not api.server.backend.base.endswith(str(etcd3.client_ports[0]))
        # the watch was on the lost member too: it resumed and saw the writes made after
        deadline = time.monotonic() + 20
        while seen.count("before") < 1 or "after" not in seen:
            assert time.monotonic() < deadline, f"watch saw only {seen}"
            time.sleep(0.1)
        watch.stop()
        t.join(5)
    finally:
        api.stop()
    # a new API server process on the same store: everything is still there
    api2 = ThreadedApiServer(etcd3.url, token="mkpyt-mn-admin").start()
    try:
        assert api2.client.get("configmaps", "before")["data"] == {"v": "3"}
        assert api2.client.get("configmaps", "after")["data"] == {"v": "2"}
    finally:
        api2.stop()


def test_mkpy_up_on_etcd_survives_down_and_up(etcd3, tmp_path):
    """`mkpy up --store etcd://...`: after `mkpy down` (which wipes the state root) a new `mkpy up`
    finds the objects again, because they live in etcd."""
    import os
    import subprocess
    import sys

    from minikube_py.api.client import Client
    from minikube_py.api.testing import free_port

    if os.geteuid() != 0:
        pytest.skip("needs root")
    mkpy = [sys.executable, "-m", "minikube_py"]
    kc = str(tmp_path / "admin.kubeconfig")
    args = [
        "up", "--store", etcd3.url, "--state-root", f"{tmp_path}/state", "--run-root", f"{tmp_path}/run",
        "--log-dir", f"{tmp_path}/log", "--kubeconfig", kc, "--node-name", "mkpyt-mn-etcd",
        "--node-netns", "mkpyt-mn-etcd", "--netns-prefix", "mkpyt-mn-etcd-", "--api-port", str(free_port()),
        "--kubelet-port", str(free_port()), "--lb-pool", "192.168.77.230-192.168.77.235",
    ]  # fmt: skip
    down = [*mkpy, "down", "--run-root", f"{tmp_path}/run"]
    try:
        subprocess.run([*mkpy, *args], check=True, capture_output=True, timeout=180)
        Client.from_kubeconfig(kc).create(cm("kept", "in-etcd"))
        subprocess.run(down, check=True, capture_output=True, timeout=180)
        assert not os.path.exists(f"{tmp_path}/state")
        subprocess.run([*mkpy, *args], check=True, capture_output=True, timeout=180)
        assert Client.from_kubeconfig(kc).get("configmaps", "kept")["data"] == {"v": "in-etcd"}
    finally:
        subprocess.run(down, capture_output=True, timeout=180)
