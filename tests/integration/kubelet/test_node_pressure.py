"""Node pressure conditions from real measurements: this machine's memory, the filesystems of the
kubelet's root and image store, and its pids, against kubelet's default and chosen thresholds."""

import os
import tempfile
import uuid

import psutil
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def registered(image_root, tmp_path):
    """register(eviction_hard=...) -> (the conditions of the Node a real Kubelet + NodeAPI posts
    to our API server, the kubelet's config)."""
    if os.geteuid() != 0:
        pytest.skip("the kubelet needs root")
    from minikube_py.api.client import Client
    from minikube_py.api.testing import ThreadedApiServer
    from minikube_py.kubelet.apiclient import NodeAPI
    from minikube_py.kubelet.kubelet import Kubelet

    from .conftest import Node

    sock = str(tmp_path / "api.sock")
    server = ThreadedApiServer(f"sqlite://{tmp_path}/state.db", socket_path=sock).start()
    nodes = []

    def register(**eviction) -> tuple[dict, object]:
        node = Node(tempfile.mkdtemp(prefix="mkpyt-kl2-"), image_root,
                    netns_prefix=f"mkpyt-kl2-{uuid.uuid4().hex[:4]}-", **eviction)
        nodes.append(node)
        api = NodeAPI(Client.from_socket(sock), f"mkpyt-kl2-{len(nodes)}", ["127.0.0.1"])
        Kubelet(node.config, api=api)  # gives the NodeAPI its pressure monitor
        return {c["type"]: c for c in api.register_node()["status"]["conditions"]}, node.config

    try:
        yield register
    finally:
        for node in nodes:
            node.cleanup()
        server.stop()


def _below(path: str, fraction: float) -> bool:
    st = os.statvfs(path)
    return st.f_bavail < st.f_blocks * fraction or st.f_favail < st.f_files * 0.05


def test_default_thresholds_report_this_machine(registered):
    from minikube_py.kubelet.eviction import DEFAULT_EVICTION_HARD

    conds, cfg = registered(eviction_hard=dict(DEFAULT_EVICTION_HARD))
    memory_low = psutil.virtual_memory().available < 100 * 2**20
    disk_low = _below(cfg.root, 0.10) or _below(cfg.image_root, 0.15)
    assert conds["MemoryPressure"]["status"] == str(memory_low)
    assert conds["DiskPressure"]["status"] == str(disk_low)
    assert conds["PIDPressure"]["status"] == "False"  # no pid threshold by default, as in kubelet
    assert conds["MemoryPressure"]["reason"] == (
        "KubeletHasInsufficientMemory" if memory_low else "KubeletHasSufficientMemory")


def test_thresholds_no_machine_meets_put_every_condition_under_pressure(registered):
    # Less than 1 PiB of memory, less than all of the disk, less than every pid: always true.
    conds, _ = registered(eviction_hard={"memory.available": "1Pi", "nodefs.available": "100%",
                                         "pid.available": "100%"})
    assert {t: (c["status"], c["reason"]) for t, c in conds.items() if t != "Ready"} == {
        "MemoryPressure": ("True", "KubeletHasInsufficientMemory"),
        "DiskPressure": ("True", "KubeletHasDiskPressure"),
        "PIDPressure": ("True", "KubeletHasInsufficientPID"),
    }
    assert conds["Ready"]["status"] == "True"
