"""The kubelet with the API server: Node + Lease, pods bound to the node, status, events,
ConfigMaps from the API, and graceful deletion ending with the object gone."""

import os
import time

import pytest

from .test_pods import cs

pytestmark = pytest.mark.integration


@pytest.fixture
def api_node(node, tmp_path):
    from minikube_py.api.client import Client
    from minikube_py.api.testing import ThreadedApiServer
    from minikube_py.kubelet.apiclient import ApiObjects, NodeAPI

    server = ThreadedApiServer(f"sqlite://{tmp_path}/state.db", socket_path=str(tmp_path / "api.sock"))
    server.start()
    client = Client.from_socket(str(tmp_path / "api.sock"))
    api = NodeAPI(client, "node1", ["127.0.0.1"])
    api.start()
    node.api = api
    node.client = client
    from minikube_py.kubelet.kubelet import Kubelet

    try:
        node.kubelet = Kubelet(node.config, objects=ApiObjects(client), api=api)
        import threading

        node.thread = threading.Thread(target=node.kubelet.run, daemon=True)
        node.thread.start()
        yield node
    finally:
        node.cleanup()
        api.stop()
        server.stop()


def wait_api(client, name, pred, timeout=30):
    from minikube_py.api.errors import ApiError

    deadline = time.monotonic() + timeout
    pod = None
    while time.monotonic() < deadline:
        try:
            pod = client.get("pods", name, "default")
        except ApiError:
            pod = None
        if pred(pod):
            return pod
        time.sleep(0.1)
    pytest.fail(f"timed out; last: {pod and pod.get('status')}")


def test_api_pods_run_and_report(api_node):
    c = api_node.client
    node = c.get("nodes", "node1")
    assert {x["type"]: x["status"] for x in node["status"]["conditions"]}["Ready"] == "True"
    assert int(node["status"]["capacity"]["pods"]) == 110
    lease = c.get("leases", "node1", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == "node1"
    c.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"},
              "data": {"color": "blue"}})
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "apipod", "namespace": "default"},
              "spec": {"nodeName": "node1", "terminationGracePeriodSeconds": 1, "containers": [{
                  "name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                  "command": ["sh", "-c", "echo color=$COLOR; sleep 1000"],
                  "env": [{"name": "COLOR",
                           "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}}]}]}})
    pod = wait_api(c, "apipod", lambda p: p and p.get("status", {}).get("phase") == "Running"
                   and cs(p)["ready"])
    assert pod["status"]["hostIP"] == "127.0.0.1" and pod["status"]["qosClass"] == "BestEffort"
    events = c.list("events", "default")["items"]
    assert {"Created", "Started"} <= {e["reason"] for e in events
                                      if e["involvedObject"]["name"] == "apipod"}
    log = os.path.join(api_node.config.log_root, f"default_apipod_{pod['metadata']['uid']}", "c", "0.log")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (os.path.exists(log) and "color=blue" in open(log).read()):
        time.sleep(0.1)
    assert "stdout F color=blue" in open(log).read()      # env from a ConfigMap in the API
    c.delete("pods", "apipod", "default")                     # graceful: the kubelet finishes it
    wait_api(c, "apipod", lambda p: p is None, timeout=30)
    assert api_node.kubelet.runtime.list() == []


def test_pvc_bound_to_a_local_volume(api_node, tmp_path):
    c = api_node.client
    data = tmp_path / "pv-data"
    data.mkdir()
    c.create({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "mkpyt-kl-pv"},
              "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                       "hostPath": {"path": str(data)}}})
    c.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
              "metadata": {"name": "claim", "namespace": "default"},
              "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                       "volumeName": "mkpyt-kl-pv"}})
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "writer", "namespace": "default"},
              "spec": {"nodeName": "node1", "restartPolicy": "Never", "containers": [{
                  "name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                  "command": ["sh", "-c", "echo kept > /data/file"],
                  "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                  "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "claim"}}]}})
    wait_api(c, "writer", lambda p: p and p.get("status", {}).get("phase") == "Succeeded")
    assert (data / "file").read_text() == "kept\n"


def test_static_pod_has_a_mirror_in_the_api(api_node):
    from .conftest import busybox_pod

    c = api_node.client
    api_node.apply("static", busybox_pod("static", {"name": "c", "command": ["sleep", "1000"]}))
    mirror = wait_api(c, "static-node1", lambda p: p and p.get("status", {}).get("phase") == "Running")
    assert "kubernetes.io/config.mirror" in mirror["metadata"]["annotations"]
    assert mirror["metadata"]["ownerReferences"][0]["kind"] == "Node"
    c.delete("pods", "static-node1", "default", grace_period_seconds=0)   # deleting a mirror ...
    wait_api(c, "static-node1", lambda p: p is not None and p["metadata"]["uid"] != mirror["metadata"]["uid"])
    running = [s for s in api_node.kubelet.runtime.list() if s["status"] == "running"]
    assert len(running) == 2                                  # ... leaves the static pod running
    api_node.remove("static")
    wait_api(c, "static-node1", lambda p: p is None)


def test_image_change_restarts_the_container(api_node):
    c = api_node.client
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "upd", "namespace": "default"},
              "spec": {"nodeName": "node1", "terminationGracePeriodSeconds": 0, "containers": [{
                  "name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                  "command": ["sleep", "1000"]}]}})
    pod = wait_api(c, "upd", lambda p: p and p.get("status", {}).get("phase") == "Running")
    first = cs(pod)["containerID"]
    c.patch("pods", "upd", {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}, "default",
            patch_type="strategic")
    pod = wait_api(c, "upd", lambda p: cs(p)["containerID"] != first and "running" in cs(p)["state"])
    assert cs(pod)["restartCount"] == 1 and cs(pod)["image"] == "busybox"
    events = [e for e in c.list("events", "default")["items"] if e["involvedObject"]["name"] == "upd"]
    assert any(e["message"] == "Container c definition changed, will be restarted" for e in events)
