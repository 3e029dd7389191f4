"""The event recorder: repeats are counted, many similar messages are combined."""

from minikube_py.controllers.events import EventRecorder


def test_repeat_bumps_count_and_last_timestamp(api, clock):
    rec = EventRecorder(api, "default-scheduler", clock=clock)
    pod = api.create("pods", {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": []}})
    rec.event(pod, "Warning", "FailedScheduling", "0/1 nodes are available: 1 Too many pods.")
    clock.advance(60)
    rec.event(pod, "Warning", "FailedScheduling", "0/1 nodes are available: 1 Too many pods.")
    [ev] = api.objs("events", "default")
    assert ev["count"] == 2
    assert ev["firstTimestamp"] != ev["lastTimestamp"]
    assert ev["metadata"]["name"].startswith("p.")
    assert ev["involvedObject"]["kind"] == "Pod" and ev["involvedObject"]["uid"] == pod["metadata"]["uid"]
    assert ev["source"] == {"component": "default-scheduler"}
    rec.event(pod, "Warning", "FailedScheduling", "another message")
    assert len(api.objs("events", "default")) == 2


def test_more_than_ten_different_messages_are_combined(api, clock):
    rec = EventRecorder(api, "kube-controller-manager", clock=clock)
    rs = api.create("replicasets", {"metadata": {"name": "web", "namespace": "default"}, "spec": {}})
    for i in range(15):
        rec.event(rs, "Normal", "SuccessfulCreate", f"Created pod: web-{i}")
    events = api.objs("events", "default")
    assert len(events) == 11
    [combined] = [e for e in events if e["message"].startswith("(combined from similar events): ")]
    assert combined["count"] == 5 and combined["message"].endswith("web-14")


def test_recorder_never_raises(api, clock):
    rec = EventRecorder(api, "x", clock=clock)
    api.fail_next("create", "events", 500)
    pod = api.create("pods", {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": []}})
    assert rec.event(pod, "Normal", "R", "m") is None
