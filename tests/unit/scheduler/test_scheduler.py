"""Scheduler filters, scores and messages, and the loop against the in-memory API."""

import random

import pytest

from minikube_py.api.informer import InformerFactory
from minikube_py.controllers.events import EventRecorder
from minikube_py.k8s.quantity import QuantityError
from minikube_py.scheduler import Scheduler, plugins
from minikube_py.scheduler.plugins import NodeInfo
from minikube_py.scheduler.resources import pod_requests, to_internal
from unit.controllers.fakeapi import FakeApi


def node(name, cpu="2", memory="4Gi", pods="110", labels=None, taints=None, unschedulable=False):
    n = {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods}},
    }
    if taints:
        n["spec"]["taints"] = taints
    if unschedulable:
        n["spec"]["unschedulable"] = True
    return n


def pod(name="p", cpu=None, memory=None, owner=None, **spec):
    req = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    p = {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": req}}], **spec},
    }
    if owner:
        p["metadata"]["ownerReferences"] = [
            {"kind": "ReplicaSet", "name": owner, "uid": owner, "controller": True}
        ]
    return p


CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def test_bad_quantity_names_the_field():
    with pytest.raises(QuantityError, match=r"resources.requests\[memory\]"):
        pod_requests(pod(memory="12 GB"))


def test_pod_requests_sum_containers_and_init_max():
    p = pod(cpu="250m", memory="64Mi")
    p["spec"]["containers"].append({"name": "d", "resources": {"limits": {"cpu": "1"}}})
    p["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "2"}}}]
    assert pod_requests(p) == {"cpu": 2000, "memory": 64 * 2**20}
    assert to_internal("cpu", "1.5") == 1500


def test_fit_error_message_matches_kube_scheduler():
    nodes = [
        NodeInfo(node("a", memory="1Gi")),
        NodeInfo(node("b", taints=[CP_TAINT])),
        NodeInfo(node("c", taints=[CP_TAINT])),
    ]
    statuses = {ni.name: plugins.run_filters(pod(memory="2Gi"), ni) for ni in nodes}
    assert plugins.fit_error(3, statuses) == (
        "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: "
        "1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
    )


def test_filters_each_reason():
    assert plugins.run_filters(pod(), NodeInfo(node("a", unschedulable=True))).reasons == [
        "node(s) were unschedulable"
    ]
    assert plugins.run_filters(pod(), NodeInfo(node("a", pods="1"), [pod("x")])).reasons == ["Too many pods"]
    assert plugins.run_filters(pod(cpu="3", memory="5Gi"), NodeInfo(node("a"))).reasons == [
        "Insufficient cpu",
        "Insufficient memory",
    ]
    assert plugins.run_filters(pod(nodeSelector={"disk": "ssd"}), NodeInfo(node("a"))).reasons == [
        "node(s) didn't match Pod's node affinity/selector"
    ]
    t = {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}
    assert plugins.run_filters(pod(), NodeInfo(node("a", taints=[t]))).reasons == [
        "node(s) had untolerated taint {dedicated: gpu}"
    ]
    # PreferNoSchedule never filters
    assert (
        plugins.run_filters(pod(), NodeInfo(node("a", taints=[{**t, "effect": "PreferNoSchedule"}]))) is None
    )


@pytest.mark.parametrize(
    "tol,ok",
    [
        ({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}, True),
        ({"key": "dedicated", "operator": "Equal", "value": "cpu"}, False),
        ({"key": "dedicated", "operator": "Exists"}, True),
        ({"operator": "Exists"}, True),
        ({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}, False),
    ],
)
def test_tolerations(tol, ok):
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    assert plugins.tolerates(tol, taint) is ok


def test_unschedulable_node_is_fine_for_a_pod_that_tolerates_it():
    tol = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    assert plugins.node_unschedulable(pod(tolerations=tol), NodeInfo(node("a", unschedulable=True))) is None


@pytest.mark.parametrize(
    "op,values,ok",
    [
        ("In", ["ssd", "nvme"], True),
        ("NotIn", ["ssd"], False),
        ("Exists", None, True),
        ("DoesNotExist", None, False),
        ("Gt", ["3"], True),
        ("Lt", ["3"], False),
    ],
)
def test_required_node_affinity_operators(op, values, ok):
    n = node("a", labels={"disk": "ssd", "cores": "8"})
    key = "cores" if op in ("Gt", "Lt") else "disk"
    expr = {"key": key, "operator": op, **({"values": values} if values else {})}
    p = pod(
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [expr]}]
                }
            }
        }
    )
    assert (plugins.node_affinity(p, NodeInfo(n)) is None) is ok


def test_scores_prefer_emptier_nodes_and_spread_owners():
    busy = NodeInfo(node("busy"), [pod("x", cpu="1500m", memory="3Gi")])
    idle = NodeInfo(node("idle"))
    s = plugins.score(pod(cpu="100m"), [busy, idle])
    assert s["idle"] > s["busy"]
    a = NodeInfo(node("a"), [pod("r1", owner="rs1"), pod("r2", owner="rs1")])
    b = NodeInfo(node("b"), [pod("o1", owner="other"), pod("o2", owner="other")])
    s = plugins.score(pod(owner="rs1"), [a, b])
    assert s["b"] > s["a"]


# ---------------------------------------------------------------- the loop
@pytest.fixture
def sched_env():
    api = FakeApi()
    api.create("namespaces", {"metadata": {"name": "default"}})
    s = Scheduler(rng=random.Random(1))
    inf = InformerFactory(api)
    s.attach(api, inf, EventRecorder(api, "default-scheduler"))

    def settle():
        for _ in range(50):
            inf.relist_all()
            if s.drain() == 0:
                return
        raise AssertionError("scheduler did not settle")

    return api, s, settle


def test_loop_binds_and_spreads_a_replica_set(sched_env):
    api, _s, settle = sched_env
    for n in ("n1", "n2", "n3"):
        api.create("nodes", node(n))
    for i in range(6):
        api.create("pods", pod(f"web-{i}", cpu="100m", owner="rs1"))
    settle()
    placed = [p["spec"]["nodeName"] for p in api.objs("pods")]
    assert sorted(placed) == ["n1", "n1", "n2", "n2", "n3", "n3"]
    ev = [e for e in api.objs("events") if e["reason"] == "Scheduled"]
    assert len(ev) == 6 and ev[0]["source"]["component"] == "default-scheduler"
    assert ev[0]["message"].startswith("Successfully assigned default/web-")


def test_assumed_pods_stop_overcommit_before_the_cache_catches_up(sched_env):
    api, s, _settle = sched_env
    api.create("nodes", node("n1", memory="1Gi"))
    api.create("nodes", node("n2", memory="1Gi"))
    api.create("pods", pod("a", memory="800Mi"))
    api.create("pods", pod("b", memory="800Mi"))
    s.informers.relist_all()
    s.drain()  # both decided from the same (stale) cache
    assert sorted(p["spec"]["nodeName"] for p in api.objs("pods")) == ["n1", "n2"]


def test_unschedulable_pod_gets_condition_and_event_then_schedules_when_a_node_appears(sched_env):
    api, s, settle = sched_env
    api.create("nodes", node("n1", memory="1Gi"))
    api.create("nodes", node("cp1", taints=[CP_TAINT]))
    api.create("nodes", node("cp2", taints=[CP_TAINT]))
    api.create("pods", pod("big", memory="2Gi"))
    settle()
    p = api.get("pods", "big", "default")
    assert not p["spec"].get("nodeName")
    cond = next(c for c in p["status"]["conditions"] if c["type"] == "PodScheduled")
    msg = (
        "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: "
        "1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
    )
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", msg)
    [ev] = [e for e in api.objs("events") if e["reason"] == "FailedScheduling"]
    assert ev["type"] == "Warning" and ev["message"] == msg and ev["involvedObject"]["name"] == "big"
    s.queue.add("default/big")
    settle()
    [ev] = [e for e in api.objs("events") if e["reason"] == "FailedScheduling"]
    assert ev["count"] == 2  # the same event again is counted, not duplicated
    api.create("nodes", node("n2", memory="4Gi"))
    settle()
    assert api.get("pods", "big", "default")["spec"]["nodeName"] == "n2"


def test_no_nodes_message(sched_env):
    api, _s, settle = sched_env
    api.create("pods", pod("lonely"))
    settle()
    [ev] = [e for e in api.objs("events") if e["reason"] == "FailedScheduling"]
    assert ev["message"] == "no nodes available to schedule pods"


def test_pods_for_another_scheduler_are_left_alone(sched_env):
    api, _s, settle = sched_env
    api.create("nodes", node("n1"))
    api.create("pods", pod("other", schedulerName="my-scheduler"))
    settle()
    assert not api.get("pods", "other", "default")["spec"].get("nodeName")


def test_prefer_no_schedule_and_preferred_affinity_steer_the_choice():
    soft = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}
    a, b = NodeInfo(node("a", taints=[soft])), NodeInfo(node("b"))
    s = plugins.score(pod(), [a, b])
    assert s["b"] > s["a"]
    tol = [{"key": "spot", "operator": "Exists"}]
    s = plugins.score(pod(tolerations=tol), [a, b])
    assert s["a"] == s["b"]
    ssd = NodeInfo(node("ssd", labels={"disk": "ssd"}))
    pref = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "preference": {
                        "matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]
                    },
                }
            ]
        }
    }
    s = plugins.score(pod(affinity=pref), [ssd, b])
    assert s["ssd"] > s["b"]
