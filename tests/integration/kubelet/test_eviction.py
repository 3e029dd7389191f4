"""Node-pressure eviction with a real kubelet, API server and containers: a memory threshold no
machine can satisfy keeps the node under MemoryPressure, so every monitoring period the kubelet
evicts one pod, in kubelet's order, and never a static pod."""

import tempfile
import threading
import time

import pytest

from .conftest import PREFIX, Node, busybox_pod

pytestmark = pytest.mark.integration


@pytest.fixture
def pressured(image_root, tmp_path):
    from minikube_py.api.client import Client
    from minikube_py.api.testing import ThreadedApiServer
    from minikube_py.kubelet.apiclient import ApiObjects, NodeAPI
    from minikube_py.kubelet.kubelet import Kubelet

    # Less than 1 PiB of memory available: under pressure always. Checked every 0.5 s (kubelet: 10 s).
    node = Node(tempfile.mkdtemp(prefix=PREFIX), image_root, eviction_hard={"memory.available": "1Pi"},
                eviction_monitoring_interval=0.5)
    sock = str(tmp_path / "api.sock")
    server = ThreadedApiServer(f"sqlite://{tmp_path}/state.db", socket_path=sock).start()
    client = Client.from_socket(str(tmp_path / "api.sock"))
    api = NodeAPI(client, "node1", ["127.0.0.1"])
    api.start()
    node.client = client
    try:
        node.kubelet = Kubelet(node.config, objects=ApiObjects(client), api=api)
        yield node
    finally:
        node.cleanup()
        api.stop()
        server.stop()


def _api_pod(client, name: str, resources: dict | None = None) -> None:
    pod = busybox_pod(name, {"name": "c", "command": ["sleep", "1000"], "resources": resources or {}})
    pod["metadata"]["namespace"] = "default"
    pod["spec"]["nodeName"] = "node1"
    client.create(pod)


def _phase(client, name: str) -> tuple[str, str]:
    st = client.get("pods", name, "default").get("status") or {}
    return st.get("phase", ""), st.get("reason", "")


def _running(client, name: str) -> bool:
    st = client.get("pods", name, "default").get("status") or {}
    return any("running" in (c.get("state") or {}) for c in st.get("containerStatuses") or [])


def test_pressure_evicts_best_effort_first_then_guaranteed_and_never_a_static_pod(pressured):
    node, client = pressured, pressured.client
    node.apply("static", busybox_pod("static", {"name": "c", "command": ["sleep", "1000"]}))
    _api_pod(client, "besteffort")
    limits = {"memory": "256Mi", "cpu": "100m"}
    _api_pod(client, "guaranteed", {"limits": limits, "requests": limits})
    # No eviction pass until both run, so the choice is made on what they use.
    node.kubelet._next_eviction = float("inf")
    node.thread = threading.Thread(target=node.kubelet.run, daemon=True)
    node.thread.start()
    deadline = time.monotonic() + 90
    while not all(_running(client, n) for n in ("besteffort", "guaranteed")):
        assert time.monotonic() < deadline, "pods did not start"
        time.sleep(0.2)
    node.kubelet._next_eviction = 0.0

    # First the BestEffort pod (it uses memory and requested none) ...
    while _phase(client, "besteffort") != ("Failed", "Evicted"):
        assert time.monotonic() < deadline, client.get("pods", "besteffort", "default")["status"]
        time.sleep(0.2)
    assert _phase(client, "guaranteed")[0] == "Running"  # within its request: ranked last
    st = client.get("pods", "besteffort", "default")["status"]
    assert st["message"].startswith("The node was low on resource: memory. Threshold quantity: 1Pi, "
                                     "available: "), st["message"]
    assert "Container c was using " in st["message"] and "request is 0, has larger consumption of memory" \
        in st["message"]
    assert {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet"}.items() <= \
        next(c for c in st["conditions"] if c["type"] == "DisruptionTarget").items()
    assert not any("running" in c["state"] for c in st["containerStatuses"])  # killed, not restarted
    events = [e for e in client.list("events", "default")["items"]
              if e["involvedObject"]["name"] == "besteffort" and e["reason"] == "Evicted"]
    assert events and events[0]["type"] == "Warning" and events[0]["message"] == st["message"]

    # ... then, still under pressure, the Guaranteed one; the static pod stays.
    while _phase(client, "guaranteed") != ("Failed", "Evicted"):
        assert time.monotonic() < deadline, client.get("pods", "guaranteed", "default")["status"]
        time.sleep(0.2)
    time.sleep(1.5)  # three more monitoring periods: nothing else may be chosen
    static = node.status("static")
    assert static["status"]["phase"] == "Running" and static["status"].get("reason") != "Evicted"
    assert _phase(client, "besteffort") == ("Failed", "Evicted")  # an evicted pod is never restarted
