"""Namespace deletion, garbage collection and node lifecycle against the in-memory API."""

import pytest

from minikube_py.controllers.garbagecollector import GarbageCollector
from minikube_py.controllers.namespace import NamespaceController
from minikube_py.controllers.nodelifecycle import NodeLifecycleController, tolerated_for
from minikube_py.controllers.replicaset import ReplicaSetController
from minikube_py.k8s.meta import micro_rfc3339, new_controller_ref


def cm(api, name, owner=None, block=True, ns="default"):
    md = {"name": name, "namespace": ns}
    if owner is not None:
        ref = new_controller_ref(owner)
        ref["blockOwnerDeletion"] = block
        md["ownerReferences"] = [ref]
    return api.create("configmaps", {"metadata": md, "data": {}})


def names(api, resource, ns="default"):
    return sorted(o["metadata"]["name"] for o in api.objs(resource, ns))


# ---------------------------------------------------------------- namespaces
def test_namespace_deletion_empties_then_finalizes(api, harness):
    harness.add(NamespaceController)
    api.create("namespaces", {"metadata": {"name": "team"}})
    cm(api, "a", ns="team")
    api.create("pods", {"metadata": {"name": "p", "namespace": "team"}, "spec": {"containers": []}})
    api.delete("namespaces", "team")
    assert api.get("namespaces", "team")["status"]["phase"] == "Terminating"
    harness.settle()
    assert api.objs("configmaps", "team") == [] and api.objs("pods", "team") == []
    with pytest.raises(Exception, match="not found"):
        api.get("namespaces", "team")


def test_namespace_waits_for_terminating_pods_and_reports_them(clock):
    from unit.controllers.conftest import Harness
    from unit.controllers.fakeapi import FakeApi

    api = FakeApi(graceful_pods=True, clock=clock)
    h = Harness(api, clock)
    ctrl = h.add(NamespaceController)
    api.create("namespaces", {"metadata": {"name": "team"}})
    api.create(
        "pods", {"metadata": {"name": "p", "namespace": "team"}, "spec": {"nodeName": "n1", "containers": []}}
    )
    api.delete("namespaces", "team")
    h.informers.relist_all()
    ctrl.process_one(timeout=0)
    ns = api.get("namespaces", "team")
    cond = {c["type"]: c for c in ns["status"]["conditions"]}["NamespaceContentRemaining"]
    assert cond["message"] == "Some resources are remaining: pods. has 1 resource instances"
    api.delete("pods", "p", "team", grace_period_seconds=0)  # the kubelet finished
    ctrl.queue.add("team")
    h.settle()
    assert not [n for n in api.objs("namespaces") if n["metadata"]["name"] == "team"]


# ---------------------------------------------------------------- garbage collection
def test_background_deletion_removes_dependents(api, harness):
    harness.add(GarbageCollector)
    owner = cm(api, "owner")
    cm(api, "dep1", owner)
    cm(api, "dep2", owner)
    cm(api, "free")
    harness.settle()
    api.delete("configmaps", "owner", "default")
    harness.settle()
    assert names(api, "configmaps") == ["free"]


def test_foreground_deletion_waits_for_dependents(api, harness):
    gc = harness.add(GarbageCollector)
    owner = cm(api, "owner")
    cm(api, "dep", owner)
    harness.settle()
    api.delete("configmaps", "owner", "default", propagation_policy="Foreground")
    assert "foregroundDeletion" in api.get("configmaps", "owner", "default")["metadata"]["finalizers"]
    harness.informers.relist_all()
    gc.drain()
    # the dependent went first; the owner follows once the GC sees it gone
    harness.settle()
    assert names(api, "configmaps") == []
    deletes = [c for c in api.calls if c[0] == "delete" and c[1] == "configmaps"]
    assert [c[3] for c in deletes] == ["owner", "dep"]


def test_orphan_deletion_keeps_dependents_without_the_reference(api, harness):
    harness.add(GarbageCollector)
    owner = cm(api, "owner")
    cm(api, "dep", owner)
    harness.settle()
    api.delete("configmaps", "owner", "default", propagation_policy="Orphan")
    harness.settle()
    assert names(api, "configmaps") == ["dep"]
    assert "ownerReferences" not in api.get("configmaps", "dep", "default")["metadata"]


def test_dangling_reference_is_dropped_when_another_owner_remains(api, harness):
    harness.add(GarbageCollector)
    a, b = cm(api, "a"), cm(api, "b")
    dep = api.create(
        "configmaps",
        {
            "metadata": {
                "name": "dep",
                "namespace": "default",
                "ownerReferences": [
                    {**new_controller_ref(a), "controller": False},
                    {**new_controller_ref(b), "controller": False},
                ],
            }
        },
    )
    assert dep
    harness.settle()
    api.delete("configmaps", "a", "default")
    harness.settle()
    refs = api.get("configmaps", "dep", "default")["metadata"]["ownerReferences"]
    assert [r["name"] for r in refs] == ["b"]


def test_gc_deletes_pods_of_a_deleted_replica_set(api, harness):
    harness.add(ReplicaSetController)
    harness.add(GarbageCollector)
    api.create(
        "replicasets",
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}},
            },
        },
    )
    harness.settle()
    assert len(api.objs("pods", "default")) == 2
    api.delete("replicasets", "web", "default")
    harness.settle()
    assert api.objs("pods", "default") == []


# ---------------------------------------------------------------- node lifecycle
def lease(api, node, t):
    body = {
        "metadata": {"name": node, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": micro_rfc3339(t)},
    }
    try:
        cur = api.get("leases", node, "kube-node-lease")
        cur["spec"] = body["spec"]
        return api.update("leases", cur)
    except Exception:  # noqa: BLE001 - not there yet: create it
        return api.create("leases", body)


def test_node_goes_unknown_tainted_and_pods_evicted_after_lease_stops(api, harness, clock):
    api.create("namespaces", {"metadata": {"name": "kube-node-lease"}})
    ctrl = harness.add(NodeLifecycleController, grace_period=40, eviction_timeout=100)
    api.create(
        "nodes",
        {
            "metadata": {"name": "n1"},
            "spec": {},
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "x"}
                ]
            },
        },
    )
    lease(api, "n1", clock())
    pod = api.create(
        "pods",
        {"metadata": {"name": "p", "namespace": "default"}, "spec": {"nodeName": "n1", "containers": []}},
    )
    tolerant = api.create(
        "pods",
        {
            "metadata": {"name": "stays", "namespace": "default"},
            "spec": {
                "nodeName": "n1",
                "containers": [],
                "tolerations": [
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}
                ],
            },
        },
    )
    api.set_pod_ready("default", "p")
    assert pod and tolerant
    harness.settle()
    clock.advance(30)
    lease(api, "n1", clock())  # still renewing: fine
    harness.settle()
    clock.advance(30)
    ctrl.queue.add("n1")
    harness.settle()
    assert api.get("nodes", "n1")["status"]["conditions"][0]["status"] == "True"
    clock.advance(15)  # 45 s of silence > 40 s grace
    ctrl.queue.add("n1")
    harness.settle()
    n = api.get("nodes", "n1")
    ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    assert {(t["key"], t["effect"]) for t in n["spec"]["taints"]} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    p_ready = next(c for c in api.get("pods", "p", "default")["status"]["conditions"] if c["type"] == "Ready")
    assert p_ready["status"] == "False"
    assert [e["message"] for e in harness.events("NodeNotReady")] == ["Node n1 status is now: NodeNotReady"]
    assert names(api, "pods") == ["p", "stays"]  # eviction waits eviction_timeout
    clock.advance(101)
    ctrl.queue.add("n1")
    harness.settle()
    assert names(api, "pods") == ["stays"]
    assert harness.events("TaintManagerEviction")[0]["message"] == "Marking for deletion Pod default/p"
    # the kubelet comes back
    n = api.get("nodes", "n1")
    n["status"]["conditions"] = [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "y"}
    ]
    api.update("nodes", n, subresource="status")
    lease(api, "n1", clock())
    harness.settle()
    assert "taints" not in api.get("nodes", "n1")["spec"]


def test_toleration_seconds():
    taint = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}
    assert tolerated_for({"spec": {}}, taint, 300) == 300
    assert (
        tolerated_for({"spec": {"tolerations": [{"operator": "Exists", "tolerationSeconds": 5}]}}, taint, 300)
        == 5
    )
    assert tolerated_for({"spec": {"tolerations": [{"operator": "Exists"}]}}, taint, 300) is None
    assert tolerated_for({"spec": {}}, {"key": "custom", "effect": "NoExecute"}, 300) == 0
