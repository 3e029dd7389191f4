"""TaintNodesByCondition: a kubelet's pressure conditions become NoSchedule taints, and go away."""

from minikube_py.controllers.nodelifecycle import NodeLifecycleController

from .test_lifecycle import lease


def _conditions(memory: str, disk: str, pid: str) -> list[dict]:
    return [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "x"},
            {"type": "MemoryPressure", "status": memory}, {"type": "DiskPressure", "status": disk},
            {"type": "PIDPressure", "status": pid}]


def _taints(api) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in api.get("nodes", "n1")["spec"].get("taints") or []}


def test_pressure_conditions_taint_the_node_until_they_clear(api, harness, clock):
    api.create("namespaces", {"metadata": {"name": "kube-node-lease"}})
    harness.add(NodeLifecycleController, grace_period=40)
    api.create("nodes", {"metadata": {"name": "n1"},
                         "spec": {"taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}]},
                         "status": {"conditions": _conditions("False", "False", "False")}})
    lease(api, "n1", clock())
    harness.settle()
    assert _taints(api) == {("team", "NoSchedule")}

    def report(memory: str, disk: str, pid: str) -> None:
        n = api.get("nodes", "n1")
        n["status"]["conditions"] = _conditions(memory, disk, pid)
        api.update("nodes", n, subresource="status")
        harness.settle()

    report("True", "False", "True")
    assert _taints(api) == {("team", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                            ("node.kubernetes.io/pid-pressure", "NoSchedule")}
    report("False", "True", "False")
    assert _taints(api) == {("team", "NoSchedule"), ("node.kubernetes.io/disk-pressure", "NoSchedule")}
    report("False", "False", "False")
    assert _taints(api) == {("team", "NoSchedule")}  # someone else's taint is left alone
