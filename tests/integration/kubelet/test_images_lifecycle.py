"""Image pulls that fail (ErrImagePull -> ImagePullBackOff), Never policy, and lifecycle hooks."""

import time

import pytest

from .conftest import busybox_pod
from .test_pods import cs, running

pytestmark = pytest.mark.integration


def waiting_reason(o):
    return (cs(o)["state"].get("waiting") or {}).get("reason")


def test_unreachable_registry_err_image_pull_then_backoff(node):
    node.start()
    node.apply("nopull", busybox_pod("nopull", {"name": "c", "image": "127.0.0.1:9/nothing:v1",
                                                "imagePullPolicy": "Always"}))
    first = node.wait("nopull", lambda o: waiting_reason(o) == "ErrImagePull", what="ErrImagePull")
    assert first["status"]["phase"] == "Pending"
    node.wait("nopull", lambda o: waiting_reason(o) == "ImagePullBackOff", what="ImagePullBackOff")
    reasons = [e["reason"] for e in node.events("nopull")]
    assert "Pulling" in reasons and "Failed" in reasons and "BackOff" in reasons
    pulls = next(e for e in node.events("nopull") if e["reason"] == "Pulling")
    assert pulls["message"] == 'Pulling image "127.0.0.1:9/nothing:v1"'


def test_never_policy_missing_image(node):
    node.start()
    missing = {"name": "c", "image": "notthere:v1", "imagePullPolicy": "Never"}
    node.apply("never", busybox_pod("never", missing))
    obj = node.wait("never", lambda o: waiting_reason(o) == "ErrImageNeverPull")
    assert "is not present with pull policy of Never" in cs(obj)["state"]["waiting"]["message"]


def test_post_start_and_pre_stop_hooks(node):
    node.start()
    node.apply("hooks", busybox_pod("hooks", {
        "name": "c", "command": ["sh", "-c", "sleep 1000"],
        "volumeMounts": [{"name": "out", "mountPath": "/out"}],
        "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo post-start > /out/trail"]}},
                      "preStop": {"exec": {"command": ["sh", "-c", "echo pre-stop >> /out/trail"]}}}},
        volumes=[{"name": "out", "hostPath": {"path": f"{node.base}/hookout", "type": "DirectoryOrCreate"}}],
        terminationGracePeriodSeconds=2))
    node.wait("hooks", running)
    deadline = time.monotonic() + 10
    trail = f"{node.base}/hookout/trail"
    while time.monotonic() < deadline:
        try:
            if open(trail).read() == "post-start\n":
                break
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    node.remove("hooks")
    node.wait_gone("hooks")
    assert open(trail).read() == "post-start\npre-stop\n"
