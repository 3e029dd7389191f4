from minikube_py.kubelet import podspec, status
from minikube_py.kubelet.status import EXITED, RUNNING, EventRecorder, Instance, PodRuntimeView


def pod(restart="Always", init=0, apps=("a",)):
    return podspec.parse_pod({"metadata": {"name": "p", "uid": "u", "namespace": "ns"}, "spec": {
        "restartPolicy": restart,
        "initContainers": [{"name": f"init{i}", "image": "i"} for i in range(init)],
        "containers": [{"name": n, "image": "busybox"} for n in apps]}})


def run(name, attempt=0, t=10.0):
    return Instance(name, f"{name}-{attempt}", attempt, "busybox", state=RUNNING, started_at=t)


def ex(name, code, attempt=0, oom=False):
    return Instance(name, f"{name}-{attempt}", attempt, "busybox", state=EXITED, started_at=1, finished_at=2,
                    exit_code=code, oom_killed=oom)


def conds(st):
    return {c["type"]: c["status"] for c in st["conditions"]}


def test_creating_pod_is_pending():
    st = status.pod_status(pod(), PodRuntimeView(host_ips=["192.168.9.1"]), now=5)
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert conds(st) == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "False",
                         "Ready": "False"}
    assert st["hostIP"] == "192.168.9.1" and st["qosClass"] == "BestEffort"


def test_running_ready_pod():
    view = PodRuntimeView(instances={"a": [run("a")]}, pod_ips=["10.1.0.4"], start_time=0)
    st = status.pod_status(pod(), view, now=5)
    cs = st["containerStatuses"][0]
    assert st["phase"] == "Running" and conds(st)["Ready"] == "True"
    assert cs["state"]["running"]["startedAt"] == "1970-01-01T00:00:10Z"
    assert cs["ready"] and cs["started"] and cs["containerID"] == "mkpy://a-0"
    assert st["podIP"] == "10.1.0.4" and st["podIPs"] == [{"ip": "10.1.0.4"}]
    assert st["startTime"] == "1970-01-01T00:00:00Z"


def test_crashloop_waiting_with_last_state():
    view = PodRuntimeView(instances={"a": [ex("a", 1, attempt=3), ex("a", 1, attempt=2)]},
                          waiting={"a": ("CrashLoopBackOff", "back-off 40s restarting failed container=a")})
    st = status.pod_status(pod(), view)
    cs = st["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["restartCount"] == 3
    assert st["phase"] == "Running"            # restartPolicy Always: restarting
    assert conds(st)["ContainersReady"] == "False"


def test_terminal_phases_and_reasons():
    st = status.pod_status(pod("Never"), PodRuntimeView(instances={"a": [ex("a", 0)]}))
    assert st["phase"] == "Succeeded"
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert [c.get("reason") for c in st["conditions"]][2:] == ["PodCompleted", "PodCompleted"]
    st = status.pod_status(pod("Never"), PodRuntimeView(instances={"a": [ex("a", 137, oom=True)]}))
    assert st["phase"] == "Failed"
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled"
    st = status.pod_status(pod("OnFailure", apps=("a", "b")),
                           PodRuntimeView(instances={"a": [ex("a", 0)], "b": [ex("b", 2)]}))
    assert st["phase"] == "Running"


def test_init_containers():
    p = pod(init=2)
    st = status.pod_status(p, PodRuntimeView(instances={"init0": [run("init0")]}))
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    assert conds(st)["Initialized"] == "False"
    assert "init0 init1" in st["conditions"][1]["message"]
    st = status.pod_status(p, PodRuntimeView(instances={"init0": [ex("init0", 0)], "init1": [ex("init1", 0)],
                                                        "a": [run("a")]}))
    assert conds(st)["Initialized"] == "True" and st["phase"] == "Running"
    assert [s["ready"] for s in st["initContainerStatuses"]] == [True, True]
    failed = status.pod_status(pod("Never", init=1), PodRuntimeView(instances={"init0": [ex("init0", 1)]}))
    assert failed["phase"] == "Failed"


def test_transition_times_carry_over():
    view = PodRuntimeView(instances={"a": [run("a")]})
    first = status.pod_status(pod(), view, now=100)
    again = status.pod_status(pod(), view, previous=first, now=200)
    assert again["conditions"][3]["lastTransitionTime"] == "1970-01-01T00:01:40Z"
    view.ready = lambda n, i: False
    flipped = status.pod_status(pod(), view, previous=again, now=300)
    assert flipped["conditions"][3]["lastTransitionTime"] == "1970-01-01T00:05:00Z"
    assert flipped["conditions"][3]["reason"] == "ContainersNotReady"


def test_events_fold_repeats():
    sent = []
    t = [1000.0]
    rec = EventRecorder("node1", sink=sent.append, clock=lambda: t[0])
    p = pod()
    ev = rec.record(p, "Pulling", 'Pulling image "busybox"', container="a")
    assert ev["involvedObject"]["fieldPath"] == "spec.containers{a}"
    assert ev["source"] == {"component": "kubelet", "host": "node1"}
    assert ev["metadata"]["namespace"] == "ns" and ev["kind"] == "Event"
    t[0] += 60
    rec.record(p, "BackOff", "Back-off restarting failed container a", "Warning", container="a")
    again = rec.record(p, "BackOff", "Back-off restarting failed container a", "Warning", container="a")
    assert again["count"] == 2 and len(rec.for_pod("u")) == 2 and len(sent) == 3
    assert again["type"] == "Warning"


def test_sidecar_counts_as_initialized_once_started():
    p = podspec.parse_pod({"metadata": {"name": "p", "uid": "u"}, "spec": {
        "initContainers": [{"name": "side", "image": "i", "restartPolicy": "Always"}],
        "containers": [{"name": "a", "image": "i"}]}})
    view = PodRuntimeView(instances={"side": [run("side")]}, started=lambda n, i: False)
    st = status.pod_status(p, view)
    assert st["phase"] == "Pending" and conds(st)["Initialized"] == "False"
    view = PodRuntimeView(instances={"side": [run("side")], "a": [run("a")]})
    st = status.pod_status(p, view)
    assert st["phase"] == "Running" and conds(st)["Initialized"] == "True"
    assert st["initContainerStatuses"][0]["ready"] is True        # a sidecar's readiness, not "completed"


def test_restart_policy_only_always_on_init_containers():
    import pytest

    with pytest.raises(podspec.PodSpecError, match=r"spec.initContainers\[0\].restartPolicy"):
        podspec.parse_pod({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "s", "image": "i", "restartPolicy": "OnFailure"}],
            "containers": [{"name": "a", "image": "i"}]}})
