"""ReplicaSet controller against the in-memory API."""

from minikube_py.controllers.replicaset import SAFE_ALPHABET, ReplicaSetController, deletion_rank


def make_rs(api, name="web", replicas=3, min_ready=0):
    return api.create(
        "replicasets",
        {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "minReadySeconds": min_ready,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        },
    )


def test_creates_pods_with_owner_reference_and_generated_names(api, harness):
    harness.add(ReplicaSetController)
    rs = make_rs(api)
    harness.settle()
    pods = api.objs("pods", "default")
    assert len(pods) == 3
    for p in pods:
        prefix, suffix = p["metadata"]["name"].rsplit("-", 1)
        assert prefix == "web" and len(suffix) == 5 and set(suffix) <= set(SAFE_ALPHABET)
        ref = p["metadata"]["ownerReferences"][0]
        assert ref == {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web",
            "uid": rs["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert p["metadata"]["labels"] == {"app": "web"}
    status = api.get("replicasets", "web", "default")["status"]
    assert status == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 0,
        "availableReplicas": 0,
        "observedGeneration": 1,
    }
    msgs = sorted(e["message"] for e in harness.events("SuccessfulCreate"))
    assert msgs == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)


def test_status_counts_ready_and_available_with_min_ready_seconds(api, harness, clock):
    harness.add(ReplicaSetController)
    make_rs(api, replicas=2, min_ready=10)
    harness.settle()
    for p in api.objs("pods", "default"):
        api.set_pod_ready("default", p["metadata"]["name"], ip="10.0.0.1")
    harness.settle()
    st = api.get("replicasets", "web", "default")["status"]
    assert (st["readyReplicas"], st["availableReplicas"]) == (2, 0)
    clock.advance(11)
    for c in harness.controllers:
        c.queue.add("default/web")
    harness.settle()
    st = api.get("replicasets", "web", "default")["status"]
    assert (st["readyReplicas"], st["availableReplicas"]) == (2, 2)


def test_scale_down_deletes_unscheduled_then_not_ready_pods_first(api, harness):
    harness.add(ReplicaSetController)
    make_rs(api, replicas=4)
    harness.settle()
    pods = sorted(p["metadata"]["name"] for p in api.objs("pods", "default"))
    # two pods scheduled and ready, one scheduled not ready, one unscheduled
    for name in pods[:3]:
        api.objects[("pods", "default", name)]["spec"]["nodeName"] = "n1"
    api.set_pod_ready("default", pods[0])
    api.set_pod_ready("default", pods[1])
    rs = api.get("replicasets", "web", "default")
    rs["spec"]["replicas"] = 2
    api.update("replicasets", rs)
    harness.settle()
    left = sorted(p["metadata"]["name"] for p in api.objs("pods", "default"))
    assert left == pods[:2]
    assert api.get("replicasets", "web", "default")["status"]["replicas"] == 2


def test_deletion_rank_orders_like_kubernetes():
    def pod(node="", phase="Pending", ready=False, created="2026-01-01T00:00:00Z"):
        return {
            "metadata": {"creationTimestamp": created},
            "spec": {"nodeName": node},
            "status": {
                "phase": phase,
                "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": created}
                ],
            },
        }

    unscheduled = pod()
    pending = pod("n1")
    running_not_ready = pod("n1", "Running")
    ready_old = pod("n1", "Running", True, "2026-01-01T00:00:00Z")
    ready_new = pod("n1", "Running", True, "2026-01-02T00:00:00Z")
    pods = [ready_old, ready_new, running_not_ready, pending, unscheduled]
    ranked = sorted(pods, key=lambda p: deletion_rank(p, {"n1": 4}, 0))
    assert ranked == [unscheduled, pending, running_not_ready, ready_new, ready_old]


def test_adopts_orphans_and_does_not_overcreate(api, harness):
    harness.add(ReplicaSetController)
    api.create(
        "pods",
        {
            "metadata": {"name": "stray", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
    )
    rs = make_rs(api, replicas=2)
    harness.settle()
    pods = api.objs("pods", "default")
    assert len(pods) == 2
    stray = api.get("pods", "stray", "default")
    assert stray["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]


def test_expectations_hold_back_a_second_create_until_the_cache_sees_the_first(api, harness):
    ctrl = harness.add(ReplicaSetController)
    make_rs(api, replicas=3)
    harness.informers.relist_all()
    ctrl.drain()
    assert len(api.objs("pods", "default")) == 3
    ctrl.queue.add("default/web")  # cache has not seen the pods yet
    ctrl.drain()
    assert len(api.objs("pods", "default")) == 3


def test_failed_create_is_retried_with_backoff_and_reported(api, harness):
    ctrl = harness.add(ReplicaSetController)
    api.fail_next("create", "pods", 500)
    make_rs(api, replicas=1)
    harness.informers.relist_all()
    ctrl.process_one(timeout=0)
    assert ctrl.queue.failures("default/web") == 1
    assert [e["reason"] for e in harness.events()] == ["FailedCreate"]
    assert api.objs("pods", "default") == []
    ctrl.queue.base_delay = 0.0
    ctrl.queue.add("default/web")
    harness.settle()
    assert len(api.objs("pods", "default")) == 1
