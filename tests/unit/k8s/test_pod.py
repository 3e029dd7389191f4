"""Pod defaulting and QoS class (merged from the api and kubelet unit tests)."""

import pytest

from minikube_py.k8s.pod import default_pod_spec, image_pull_policy, qos_class


def pod(*containers, init=()):
    def make(prefix, items):
        return [{"name": f"{prefix}{i}", "image": "busybox:1", "resources": r} for i, r in enumerate(items)]

    spec = {"containers": make("c", containers), "initContainers": make("i", init)}
    default_pod_spec(spec)
    return {"metadata": {"name": "p"}, "spec": spec}


G = {"limits": {"cpu": "1", "memory": "1Gi"}}


@pytest.mark.parametrize("image,policy", [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
    ("localhost:5000/busybox", "Always"), ("localhost:5000/busybox:v1", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v1", "IfNotPresent"),
    ("busybox@sha256:" + "a" * 64, "IfNotPresent"), ("app@sha256:abc", "IfNotPresent"),
])
def test_image_pull_policy(image, policy):
    assert image_pull_policy(image) == policy


@pytest.mark.parametrize("p,klass", [
    (pod({}), "BestEffort"),
    (pod({}, {}), "BestEffort"),
    (pod(G), "Guaranteed"),
    (pod(G, G), "Guaranteed"),
    (pod({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}), "Burstable"),
    (pod(G, {}), "Burstable"),
    (pod({"limits": {"cpu": "1"}}), "Burstable"),
    (pod({"requests": {"memory": "10Mi"}}), "Burstable"),
    (pod({"requests": {"ephemeral-storage": "1Gi"}}), "BestEffort"),     # only cpu/memory count
    (pod({"requests": {"cpu": "0"}}), "BestEffort"),                      # zero is no request
    (pod(G, init=[{"requests": {"cpu": "100m"}}]), "Burstable"),          # init containers count
])
def test_qos_class(p, klass):
    assert qos_class(p["spec"]) == klass


def test_volume_and_probe_defaults():
    spec = {
        "containers": [{"name": "c", "image": "busybox:1", "readinessProbe": {"httpGet": {"port": 80}}}],
        "volumes": [
            {"name": "s"},
            {"name": "p", "projected": {"sources": []}},
            {"name": "h", "hostPath": {"path": "/x"}},
        ],
    }
    default_pod_spec(spec)
    assert spec["volumes"][0] == {"name": "s", "emptyDir": {}}
    assert spec["volumes"][1]["projected"]["defaultMode"] == 0o644
    assert spec["volumes"][2]["hostPath"]["type"] == ""
    probe = spec["containers"][0]["readinessProbe"]
    assert (probe["periodSeconds"], probe["failureThreshold"], probe["httpGet"]["path"]) == (10, 3, "/")
