"""Controllers and scheduler against the real API server, with a test-driven stand-in kubelet."""

from __future__ import annotations

import pytest

from minikube_py.api.errors import ApiError
from minikube_py.controllers import deployutil as du
from minikube_py.controllers.adapter import adapt
from minikube_py.controllers.hashing import HASH_LABEL
from minikube_py.controllers.rollout import undo

from .conftest import NODES, node_body, wait_for


def deployment(name="web", replicas=3, image="busybox:1.36", surge=1, unavailable=1, memory=None):
    res = {"requests": {"memory": memory}} if memory else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
            },
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "resources": res,
                            "ports": [{"name": "http", "containerPort": 3000}],
                        }
                    ]
                },
            },
        },
    }


def live_pods(c, app="web"):
    return [
        p
        for p in c.kubelet.pods()
        if p["metadata"]["labels"].get("app") == app and not p["metadata"].get("deletionTimestamp")
    ]


def rollout_done(c, name="web", replicas=3):
    d = c.client.get("deployments", name, "default")
    st = d.get("status") or {}
    return (
        st.get("observedGeneration") == d["metadata"]["generation"]
        and st.get("updatedReplicas") == replicas
        and st.get("availableReplicas") == replicas
        and st.get("replicas") == replicas
    ) and d


def drive(c, until, min_ready=None, max_total=None, timeout=30.0, what="rollout"):
    """Step the stand-in kubelet one pod at a time until `until()`; check the invariant each step."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        if min_ready is not None:
            assert c.kubelet.ready_count(selector={"app": "web"}) >= min_ready
        if max_total is not None:
            assert len(live_pods(c)) <= max_total
        done = until()
        if done:
            return done
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out driving {what}")
        c.kubelet.step(max_ready=1)
        time.sleep(0.02)


def test_deployment_scheduled_rolled_out_rolled_back_scaled_and_collected(cluster):
    c = cluster
    c.client.create(deployment())
    rs = wait_for(lambda: c.client.list("replicasets", "default")["items"], what="a ReplicaSet")
    [rs] = rs
    h = rs["metadata"]["labels"][HASH_LABEL]
    assert rs["metadata"]["name"] == f"web-{h}"
    pods = wait_for(
        lambda: (lambda ps: ps if len(ps) == 3 and all(p["spec"].get("nodeName") for p in ps) else None)(
            live_pods(c)
        ),
        what="3 bound pods",
    )
    assert {p["spec"]["nodeName"] for p in pods} == set(NODES)  # spread over the nodes
    assert all(p["metadata"]["name"].startswith(f"web-{h}-") for p in pods)
    drive(c, lambda: rollout_done(c))
    d = c.client.get("deployments", "web", "default")
    conds = {x["type"]: x for x in d["status"]["conditions"]}
    assert conds["Available"]["status"] == "True"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    wait_for(
        lambda: any(e["message"].startswith("Successfully assigned default/web-")
                    for e in c.events("Scheduled")),
        what="Scheduled events (written in the background)",
    )

    # Rolling update: never fewer than replicas - maxUnavailable ready pods, never more than
    # replicas + maxSurge pods, at every step of the simulation.
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.37"
    c.client.update(d)
    drive(
        c,
        lambda: (
            rollout_done(c)
            and {p["spec"]["containers"][0]["image"] for p in live_pods(c)} == {"busybox:1.37"}
            and len(live_pods(c)) == 3
        ),
        min_ready=2,
        max_total=4,
    )
    revisions = sorted(du.revision(r) for r in c.client.list("replicasets", "default")["items"])
    assert revisions == [1, 2]

    # Rollback (kubectl rollout undo): the first ReplicaSet comes back as revision 3.
    undo(adapt(c.client), "default", "web")
    drive(
        c,
        lambda: (
            rollout_done(c)
            and {p["spec"]["containers"][0]["image"] for p in live_pods(c)} == {"busybox:1.36"}
            and len(live_pods(c)) == 3
        ),
        min_ready=2,
        max_total=4,
    )
    first = c.client.get("replicasets", f"web-{h}", "default")
    assert first["metadata"]["annotations"][du.REVISION] == "3" and first["spec"]["replicas"] == 3

    # Scale through the scale subresource, as `kubectl scale` does.
    c.client.scale("deployments", "web", 5, "default")
    drive(c, lambda: rollout_done(c, replicas=5) and len(live_pods(c)) == 5)
    c.client.scale("deployments", "web", 2, "default")
    drive(c, lambda: rollout_done(c, replicas=2) and len(live_pods(c)) == 2)

    # Garbage collection: deleting the Deployment takes its ReplicaSets and pods along.
    c.client.delete("deployments", "web", "default")
    drive(
        c,
        lambda: not c.client.list("replicasets", "default")["items"] and not c.kubelet.pods(),
        what="garbage collection",
    )


def test_endpoints_follow_readiness(cluster):
    c = cluster
    c.client.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        }
    )
    c.client.create(deployment(replicas=2))
    wait_for(lambda: len([p for p in live_pods(c) if p["spec"].get("nodeName")]) == 2, what="bound pods")
    c.kubelet.step(max_ready=0)

    def ep_state():
        ep = c.client.get("endpoints", "web", "default")
        subsets = ep.get("subsets") or []
        ready = sorted(a["ip"] for s in subsets for a in s.get("addresses") or [])
        not_ready = sorted(a["ip"] for s in subsets for a in s.get("notReadyAddresses") or [])
        ports = sorted({p["port"] for s in subsets for p in s.get("ports") or []})
        return ready, not_ready, ports

    # Pods with IPs but not Ready: listed as not ready.
    for p in live_pods(c):
        c.kubelet.set_ready(p, ready=False)
    wait_for(lambda: len(ep_state()[1]) == 2, what="2 notReadyAddresses")
    assert ep_state()[0] == [] and ep_state()[2] == [3000]  # named targetPort resolved
    one = sorted(live_pods(c), key=lambda p: p["metadata"]["name"])[0]
    c.kubelet.set_ready(one)
    wait_for(
        lambda: (
            ep_state()[0] == [one["status"]["podIP"]]
            if one.get("status", {}).get("podIP")
            else len(ep_state()[0]) == 1
        ),
        what="one ready address",
    )
    ep = c.client.get("endpoints", "web", "default")
    addr = next(a for s in ep["subsets"] for a in s.get("addresses") or [])
    assert addr["targetRef"]["kind"] == "Pod" and addr["targetRef"]["name"] == one["metadata"]["name"]
    assert addr["nodeName"] == one["spec"]["nodeName"]


def test_unschedulable_pod_stays_pending_with_kube_scheduler_message(cluster):
    c = cluster
    # One node too small, two tainted as control planes.
    cp = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    for n in NODES[1:]:
        node = c.client.get("nodes", n)
        node["spec"]["taints"] = [cp]
        c.client.update(node)
    c.client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "big", "namespace": "default"},
            "spec": {
                "containers": [
                    {"name": "app", "image": "busybox", "resources": {"requests": {"memory": "3Gi"}}}
                ]
            },
        }
    )
    msg = (
        "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: "
        "1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
    )
    ev = wait_for(lambda: [e for e in c.events("FailedScheduling") if e["message"] == msg], what="the event")
    assert ev[0]["type"] == "Warning" and ev[0]["source"]["component"] == "default-scheduler"
    pod = c.client.get("pods", "big", "default")
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
    cond = next(x for x in pod["status"]["conditions"] if x["type"] == "PodScheduled")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", msg)
    # A big enough node joins: the pod is scheduled onto it.
    c.client.create(node_body("mkpyt-ctl-big", memory="8Gi"))
    c.alive.add("mkpyt-ctl-big")
    wait_for(
        lambda: c.client.get("pods", "big", "default")["spec"].get("nodeName") == "mkpyt-ctl-big",
        what="binding to the new node",
    )


def test_node_not_ready_after_lease_expiry_then_pods_evicted(cluster):
    c = cluster
    dead = NODES[0]
    c.client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "pinned", "namespace": "default"},
            "spec": {"nodeName": dead, "containers": [{"name": "app", "image": "busybox"}]},
        }
    )
    c.kubelet.step(max_ready=1)
    c.alive.discard(dead)
    node = wait_for(
        lambda: (
            lambda n: (
                n
                if any(x["type"] == "Ready" and x["status"] == "Unknown" for x in n["status"]["conditions"])
                else None
            )
        )(c.client.get("nodes", dead)),
        what="Ready=Unknown",
    )
    ready = next(x for x in node["status"]["conditions"] if x["type"] == "Ready")
    assert (
        ready["reason"] == "NodeStatusUnknown" and ready["message"] == "Kubelet stopped posting node status."
    )
    node = wait_for(
        lambda: (lambda n: n if len(n["spec"].get("taints") or []) == 2 else None)(
            c.client.get("nodes", dead)
        ),
        what="unreachable taints",
    )
    assert {(t["key"], t["effect"]) for t in node["spec"]["taints"]} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    assert [e["message"] for e in c.events("NodeNotReady")] == [f"Node {dead} status is now: NodeNotReady"]
    # Its pod is marked not ready, then evicted after the (shortened) eviction timeout.
    wait_for(
        lambda: c.client.get("pods", "pinned", "default")["metadata"].get("deletionTimestamp"),
        what="eviction",
    )
    wait_for(
        lambda: any(
            e["message"] == "Marking for deletion Pod default/pinned"
            for e in c.events("TaintManagerEviction")
        ),
        what="the eviction event",
    )
    # New pods avoid the dead node.
    c.client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "fresh", "namespace": "default"},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]},
        }
    )
    bound = wait_for(lambda: c.client.get("pods", "fresh", "default")["spec"].get("nodeName"), what="binding")
    assert bound != dead


def test_namespace_deletion_and_foreground_gc(cluster):
    c = cluster
    c.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mkpyt-ctl-team"}})
    c.client.create({**deployment(replicas=2), "metadata": {"name": "web", "namespace": "mkpyt-ctl-team"}})
    wait_for(lambda: len(c.kubelet.pods("mkpyt-ctl-team")) == 2, what="pods in the namespace")
    # Foreground: the ReplicaSet stays (with its finalizer) until its pods are gone.
    [rs] = c.client.list("replicasets", "mkpyt-ctl-team")["items"]
    c.client.delete("replicasets", rs["metadata"]["name"], "mkpyt-ctl-team", propagation_policy="Foreground")
    got = c.client.get("replicasets", rs["metadata"]["name"], "mkpyt-ctl-team")
    assert "foregroundDeletion" in got["metadata"]["finalizers"]
    c.client.delete("namespaces", "mkpyt-ctl-team")
    assert c.client.get("namespaces", "mkpyt-ctl-team")["status"]["phase"] == "Terminating"

    def gone():
        c.kubelet.finish_deletions("mkpyt-ctl-team")
        try:
            c.client.get("namespaces", "mkpyt-ctl-team")
            return False
        except ApiError as e:
            return e.code == 404

    wait_for(gone, what="the namespace to go")
    with pytest.raises(ApiError):
        c.client.get("replicasets", rs["metadata"]["name"], "mkpyt-ctl-team")
