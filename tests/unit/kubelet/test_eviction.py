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
