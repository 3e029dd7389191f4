"""Node pressure from eviction thresholds, with a fake stats source and a fake clock."""

import pytest

from minikube_py.kubelet import eviction
from minikube_py.kubelet.apiclient import NodeAPI
from minikube_py.kubelet.eviction import Observation, PressureMonitor, parse_thresholds, split_flag

MI = 2**20


def healthy() -> dict[str, Observation]:
    return {
        "memory.available": Observation(2000 * MI, 4000 * MI),
        "nodefs.available": Observation(50, 100), "nodefs.inodesFree": Observation(900, 1000),
        "imagefs.available": Observation(50, 100), "imagefs.inodesFree": Observation(900, 1000),
        "pid.available": Observation(30000, 32768),
    }


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_defaults_are_kubelets():
    t = parse_thresholds(eviction.DEFAULT_EVICTION_HARD)
    assert t["memory.available"].value(0) == 100 * MI
    assert t["nodefs.available"].value(1000) == pytest.approx(100)
    assert t["imagefs.available"].value(1000) == pytest.approx(150)
    assert "pid.available" not in t  # kubelet has no default pid threshold


def test_flag_form_and_errors_name_the_signal():
    assert split_flag("memory.available<1Gi, pid.available<10%") == {
        "memory.available": "1Gi", "pid.available": "10%"}
    assert split_flag("") == {}
    with pytest.raises(eviction.EvictionError, match=r"'memory\.avail'"):
        split_flag("memory.avail<1Gi")
    with pytest.raises(eviction.EvictionError, match=r"nodefs\.available: invalid value '120%'"):
        parse_thresholds({"nodefs.available": "120%"})
    with pytest.raises(eviction.EvictionError, match="SIGNAL<VALUE"):
        split_flag("memory.available>1Gi")


def test_each_signal_sets_its_condition():
    stats = healthy()
    clock = Clock()
    m = PressureMonitor(parse_thresholds({**eviction.DEFAULT_EVICTION_HARD, "pid.available": "5%"}),
                        lambda: stats, transition_period=0, clock=clock)
    assert m.check() == {"MemoryPressure": False, "DiskPressure": False, "PIDPressure": False}
    stats["memory.available"] = Observation(99 * MI, 4000 * MI)
    assert m.check()["MemoryPressure"] is True
    stats["memory.available"] = Observation(101 * MI, 4000 * MI)
    stats["imagefs.available"] = Observation(14, 100)  # 14% < 15%
    assert m.check() == {"MemoryPressure": False, "DiskPressure": True, "PIDPressure": False}
    assert m.met == {"imagefs.available"}
    stats["imagefs.available"] = Observation(50, 100)
    stats["nodefs.inodesFree"] = Observation(40, 1000)  # 4% < 5%
    assert m.check()["DiskPressure"] is True
    stats["nodefs.inodesFree"] = Observation(900, 1000)
    stats["pid.available"] = Observation(1000, 32768)  # 3% < 5%
    assert m.check() == {"MemoryPressure": False, "DiskPressure": False, "PIDPressure": True}


def test_pressure_holds_for_the_transition_period():
    stats = healthy()
    clock = Clock()
    m = PressureMonitor(parse_thresholds({"memory.available": "100Mi"}), lambda: stats,
                        transition_period=300, clock=clock)
    stats["memory.available"] = Observation(10 * MI, 4000 * MI)
    assert m.check()["MemoryPressure"] is True
    stats["memory.available"] = Observation(2000 * MI, 4000 * MI)
    clock.t += 299
    assert m.check()["MemoryPressure"] is True  # not flapping back yet
    clock.t += 2
    assert m.check()["MemoryPressure"] is False


class FakeClient:
    def __init__(self) -> None:
        self.nodes: list[dict] = []

    def create(self, obj: dict) -> dict:
        self.nodes.append(obj)
        return {**obj, "metadata": {**obj["metadata"], "uid": "u1"}}


def test_node_reports_conditions_with_kubelets_reasons_and_stable_transition_times(monkeypatch):
    from minikube_py.kubelet import apiclient

    ticks = iter(f"2026-11-26T12:00:{s:02d}Z" for s in range(60))
    monkeypatch.setattr(apiclient, "_now", lambda: next(ticks))  # every report a new second
    stats = healthy()
    api = NodeAPI.__new__(NodeAPI)  # no informer needed to build the Node
    api.client, api.node_name, api.addresses, api.kubelet_port, api._reported = FakeClient(), "n1", [], 0, {}
    api.pressure = PressureMonitor(parse_thresholds({"memory.available": "100Mi"}), lambda: stats,
                                   transition_period=0)

    def conds() -> dict[str, dict]:
        api.register_node()
        return {c["type"]: c for c in api.client.nodes[-1]["status"]["conditions"]}

    first = conds()
    assert [first[t]["reason"] for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")] == [
        "KubeletHasSufficientMemory", "KubeletHasNoDiskPressure", "KubeletHasSufficientPID", "KubeletReady"]
    assert first["MemoryPressure"]["message"] == "kubelet has sufficient memory available"
    assert not api._pressure_changed()
    stats["memory.available"] = Observation(1, 4000 * MI)
    assert api._pressure_changed()  # the heartbeat posts status now, not in 60 s
    under = conds()["MemoryPressure"]
    assert (under["status"], under["reason"], under["message"]) == (
        "True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
    assert under["lastTransitionTime"] != first["MemoryPressure"]["lastTransitionTime"]
    again = conds()["MemoryPressure"]
    assert again["lastHeartbeatTime"] != under["lastHeartbeatTime"]
    assert again["lastTransitionTime"] == under["lastTransitionTime"]  # no transition, same time
    assert conds()["DiskPressure"]["lastTransitionTime"] == first["DiskPressure"]["lastTransitionTime"]


# ------------------------------------------------------------------ choosing whom to evict
def _usage(name: str, used: int, request: int = 0, priority: int = 0, **meta) -> eviction.PodUsage:
    pod = {"metadata": {"name": name, **meta}, "spec": {"priority": priority}}
    return eviction.PodUsage(pod, [eviction.ContainerUsage("c", used, request)], used)


def test_rank_is_kubelets_order():
    pods = [
        _usage("guaranteed-within", 100 * MI, request=200 * MI),
        _usage("burstable-over", 300 * MI, request=200 * MI),
        _usage("besteffort-small", 10 * MI),
        _usage("besteffort-big", 50 * MI),
        _usage("besteffort-big-important", 900 * MI, priority=1000),
    ]
    order = [p.pod["metadata"]["name"] for p in eviction.rank(pods)]
    # Over their requests first; among those the lower priority first, then the most above the request.
    assert order == ["burstable-over", "besteffort-big", "besteffort-small", "besteffort-big-important",
                     "guaranteed-within"]


def test_critical_pods_are_never_candidates():
    assert eviction.is_critical({"metadata": {"annotations": {"kubernetes.io/config.source": "file"}}})
    assert eviction.is_critical({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}})
    assert eviction.is_critical({"metadata": {}, "spec": {"priority": 2_000_001_000}})
    assert not eviction.is_critical({"metadata": {"annotations": {}}, "spec": {"priority": 1000}})


def test_message_is_worded_as_kubelets():
    victim = eviction.PodUsage({"metadata": {"name": "p"}}, [
        eviction.ContainerUsage("app", 300 * MI, 100 * MI), eviction.ContainerUsage("side", 1 * MI, 64 * MI)])
    t = parse_thresholds({"memory.available": "100Mi"})["memory.available"]
    text = eviction.eviction_message("memory.available", t, Observation(50 * MI, 4000 * MI), victim)
    assert text == ("The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. "
                    "Container app was using 307200Ki, request is 102400Ki, has larger consumption of "
                    "memory. ")
    pct = parse_thresholds({"nodefs.available": "10%"})["nodefs.available"]
    text = eviction.eviction_message("nodefs.available", pct, Observation(5 * MI, 100 * MI),
                                     eviction.PodUsage({}, []))
    assert text == ("The node was low on resource: ephemeral-storage. Threshold quantity: 10240Ki, "
                    "available: 5120Ki. ")


def test_an_evicted_status_says_so_and_keeps_its_transition_time():
    from minikube_py.api.tables import pod_status_reason
    from minikube_py.kubelet import status

    st = status.evicted({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}, "low", 0.0)
    assert (st["phase"], st["reason"], st["message"]) == ("Failed", "Evicted", "low")
    target = st["conditions"][-1]
    assert (target["type"], target["reason"]) == ("DisruptionTarget", "TerminationByKubelet")
    again = status.evicted(st, "low", 100.0)
    assert again["conditions"][-1]["lastTransitionTime"] == target["lastTransitionTime"]
    assert len([c for c in again["conditions"] if c["type"] == "DisruptionTarget"]) == 1
    assert pod_status_reason({"status": st, "metadata": {}}) == "Evicted"  # kubectl's STATUS column
