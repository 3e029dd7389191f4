"""Deployment controller + ReplicaSet controller against the in-memory API.

A stand-in kubelet (`Kubelet.step`) marks a few pods Ready per round and finishes pod
deletions; after every step the test counts ready pods, so "never below
replicas - maxUnavailable" is checked at every intermediate state the controllers produce.
"""

import copy

import pytest

from minikube_py.controllers import deployutil as du
from minikube_py.controllers.deployment import DeploymentController
from minikube_py.controllers.hashing import HASH_LABEL, compute_hash, safe_encode
from minikube_py.controllers.replicaset import ReplicaSetController
from minikube_py.controllers.rollout import RolloutError, history, undo


def make_deploy(api, name="web", replicas=3, image="busybox:1", strategy=None, **spec):
    body = {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
            **spec,
        },
    }
    if strategy:
        body["spec"]["strategy"] = strategy
    return api.create("deployments", body)


def set_image(api, image, name="web"):
    d = api.get("deployments", name, "default")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return api.update("deployments", d)


class Kubelet:
    """Makes up to `per_round` pods Ready each round; records the fewest ready pods seen."""

    def __init__(self, api, per_round=1):
        self.api, self.per_round = api, per_round
        self.min_ready_seen = None

    def ready_pods(self):
        return [
            p
            for p in self.api.objs("pods", "default")
            if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
        ]

    def observe(self):
        n = len(self.ready_pods())
        self.min_ready_seen = n if self.min_ready_seen is None else min(self.min_ready_seen, n)

    def step(self):
        self.observe()
        moved = 0
        for p in sorted(self.api.objs("pods", "default"), key=lambda p: p["metadata"]["name"]):
            if moved >= self.per_round:
                break
            if not p["status"].get("conditions") or not any(
                c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"]
            ):
                self.api.set_pod_ready("default", p["metadata"]["name"])
                moved += 1
        self.observe()
        return moved


def rs_list(api):
    return sorted(api.objs("replicasets", "default"), key=lambda r: du.revision(r))


def test_pod_template_hash_shape():
    h = compute_hash({"spec": {"containers": [{"name": "c"}]}})
    assert 8 <= len(h) <= 10 and set(h) <= set("456789bcdf")
    assert compute_hash({"a": 1}) != compute_hash({"a": 1}, 1)
    assert safe_encode("0123456789") == "456789bcdf"  # digits land on 10 letters


@pytest.mark.parametrize(
    "value,total,up,want",
    [
        (2, 10, True, 2),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("25%", 3, True, 1),
        ("25%", 3, False, 0),
        ("100%", 4, False, 4),
        ("0%", 4, True, 0),
        ("3", 9, False, 3),
    ],
)
def test_scaled_values_round_like_kubernetes(value, total, up, want):
    assert du.scaled_value(value, total, up) == want


def test_bad_percentage_names_the_field():
    d = {"spec": {"replicas": 3, "strategy": {"rollingUpdate": {"maxSurge": "25 percent"}}}}
    with pytest.raises(du.DeploymentSpecError, match="maxSurge"):
        du.resolve_fenceposts(d)


def test_fenceposts_never_both_zero():
    d = {"spec": {"replicas": 3, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "10%"}}}}
    assert du.resolve_fenceposts(d) == (0, 1)


def test_deployment_creates_hashed_replica_set_and_reports_status(api, harness):
    harness.add(DeploymentController)
    harness.add(ReplicaSetController)
    d = make_deploy(api)
    kubelet = Kubelet(api, per_round=3)
    harness.settle(hook=kubelet.step)
    [rs] = rs_list(api)
    h = rs["metadata"]["labels"][HASH_LABEL]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert h == compute_hash(d["spec"]["template"])
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: h}
    assert rs["metadata"]["annotations"][du.REVISION] == "1"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    pods = api.objs("pods", "default")
    assert len(pods) == 3 and all(p["metadata"]["labels"][HASH_LABEL] == h for p in pods)
    d = api.get("deployments", "web", "default")
    st = d["status"]
    assert {
        k: st[k]
        for k in (
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
            "observedGeneration",
        )
    } == {
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "unavailableReplicas": 0,
        "observedGeneration": 1,
    }
    conds = {c["type"]: c for c in st["conditions"]}
    assert (conds["Available"]["status"], conds["Available"]["reason"]) == (
        "True",
        "MinimumReplicasAvailable",
    )
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == (
        "True",
        "NewReplicaSetAvailable",
    )
    assert conds["Progressing"]["message"] == f'ReplicaSet "web-{h}" has successfully progressed.'
    assert d["metadata"]["annotations"][du.REVISION] == "1"
    assert [e["message"] for e in harness.events("ScalingReplicaSet")] == [
        f"Scaled up replica set web-{h} from 0 to 3"
    ]


@pytest.mark.parametrize("replicas,surge,unavailable", [(3, 1, 1), (4, "25%", "25%"), (5, 0, 2), (3, 2, 0)])
def test_rolling_update_never_drops_below_min_available(api, harness, replicas, surge, unavailable):
    harness.add(DeploymentController)
    harness.add(ReplicaSetController)
    make_deploy(
        api,
        replicas=replicas,
        strategy={
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
        },
    )
    kubelet = Kubelet(api, per_round=replicas)
    harness.settle(hook=kubelet.step)
    d = api.get("deployments", "web", "default")
    max_unavail = du.max_unavailable(d)
    max_total = replicas + du.max_surge(d)
    set_image(api, "busybox:2")
    kubelet = Kubelet(api, per_round=1)
    kubelet.observe()
    peak = 0

    def step():
        nonlocal peak
        peak = max(
            peak, len([p for p in api.objs("pods", "default") if not p["metadata"].get("deletionTimestamp")])
        )
        return kubelet.step()

    harness.settle(hook=step)
    assert kubelet.min_ready_seen >= replicas - max_unavail
    assert peak <= max_total
    (new,) = [rs for rs in rs_list(api) if rs["spec"]["replicas"] > 0]
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:2"
    assert new["metadata"]["annotations"][du.REVISION] == "2"
    pods = api.objs("pods", "default")
    assert len(pods) == replicas
    assert all(p["spec"]["containers"][0]["image"] == "busybox:2" for p in pods)
    st = api.get("deployments", "web", "default")["status"]
    assert (st["updatedReplicas"], st["availableReplicas"], st["replicas"]) == (replicas, replicas, replicas)


def test_recreate_scales_old_to_zero_before_new(api, harness):
    harness.add(DeploymentController)
    harness.add(ReplicaSetController)
    make_deploy(api, strategy={"type": "Recreate"})
    kubelet = Kubelet(api, per_round=3)
    harness.settle(hook=kubelet.step)
    set_image(api, "busybox:2")
    images_seen_together = []

    def step():
        imgs = {p["spec"]["containers"][0]["image"] for p in api.objs("pods", "default")}
        images_seen_together.append(imgs)
        return kubelet.step()

    harness.settle(hook=step)
    assert all(len(s) <= 1 for s in images_seen_together)
    pods = api.objs("pods", "default")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"busybox:2"} and len(pods) == 3


def test_rollback_brings_old_replica_set_back_with_next_revision(api, harness):
    harness.add(DeploymentController)
    harness.add(ReplicaSetController)
    make_deploy(api)
    kubelet = Kubelet(api, per_round=3)
    harness.settle(hook=kubelet.step)
    first = rs_list(api)[0]["metadata"]["name"]
    set_image(api, "busybox:2")
    harness.settle(hook=kubelet.step)
    assert [r["revision"] for r in history(api, "default", "web")] == [1, 2]
    undo(api, "default", "web")
    harness.settle(hook=kubelet.step)
    rss = {r["metadata"]["name"]: r for r in api.objs("replicasets", "default")}
    assert len(rss) == 2
    assert rss[first]["spec"]["replicas"] == 3
    assert rss[first]["metadata"]["annotations"][du.REVISION] == "3"
    assert rss[first]["metadata"]["annotations"][du.REVISION_HISTORY] == "1"
    d = api.get("deployments", "web", "default")
    assert d["metadata"]["annotations"][du.REVISION] == "3"
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1"
    assert HASH_LABEL not in d["spec"]["template"]["metadata"]["labels"]
    with pytest.raises(RolloutError, match="unable to find specified revision 9"):
        undo(api, "default", "web", to_revision=9)


def test_scale_resizes_the_only_active_replica_set(api, harness):
    harness.add(DeploymentController)
    harness.add(ReplicaSetController)
    make_deploy(api)
    kubelet = Kubelet(api, per_round=5)
    harness.settle(hook=kubelet.step)
    d = api.get("deployments", "web", "default")
    d["spec"]["replicas"] = 5
    api.update("deployments", d)
    harness.settle(hook=kubelet.step)
    [rs] = rs_list(api)
    assert rs["spec"]["replicas"] == 5 and rs["metadata"]["annotations"][du.DESIRED_REPLICAS] == "5"
    assert len(api.objs("pods", "default")) == 5
    d = api.get("deployments", "web", "default")
    d["spec"]["replicas"] = 1
    api.update("deployments", d)
    harness.settle(hook=kubelet.step)
    assert len(api.objs("pods", "default")) == 1


def test_proportional_scaling_during_a_rollout():
    d = {
        "metadata": {"generation": 2},
        "spec": {
            "replicas": 20,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}},
        },
    }
    old = {"metadata": {"name": "old", "annotations": {du.MAX_REPLICAS: "13"}}, "spec": {"replicas": 8}}
    new = {"metadata": {"name": "new", "annotations": {du.MAX_REPLICAS: "13"}}, "spec": {"replicas": 5}}
    # 10 -> 20 replicas: allowed total 23, 13 now -> 10 more, shared ~ 8:5
    assert du.proportion(old, d, 10, 0, 13) == 6
    assert du.proportion(new, d, 10, 6, 13) == 4


def test_revision_history_limit_deletes_oldest_unused(api, harness):
    harness.add(DeploymentController)
    harness.add(ReplicaSetController)
    make_deploy(api, revisionHistoryLimit=1)
    kubelet = Kubelet(api, per_round=3)
    harness.settle(hook=kubelet.step)
    for img in ("busybox:2", "busybox:3"):
        set_image(api, img)
        harness.settle(hook=kubelet.step)
    revs = sorted(du.revision(r) for r in api.objs("replicasets", "default"))
    assert revs == [2, 3]


def test_progress_deadline_exceeded_when_pods_never_become_ready(api, harness, clock):
    harness.add(DeploymentController)
    harness.add(ReplicaSetController)
    make_deploy(api, progressDeadlineSeconds=30)
    harness.settle()
    cond = du.get_condition(api.get("deployments", "web", "default")["status"], "Progressing")
    assert (cond["status"], cond["reason"]) == ("True", "ReplicaSetUpdated")  # pods were created
    clock.advance(31)
    for c in harness.controllers:
        c.queue.add("default/web")
    harness.settle()
    st = api.get("deployments", "web", "default")["status"]
    cond = du.get_condition(st, "Progressing")
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert cond["message"].endswith("has timed out progressing.")
    avail = du.get_condition(st, "Available")
    assert (avail["status"], avail["reason"]) == ("False", "MinimumReplicasUnavailable")


def test_paused_deployment_does_not_roll_out(api, harness):
    harness.add(DeploymentController)
    harness.add(ReplicaSetController)
    make_deploy(api)
    kubelet = Kubelet(api, per_round=3)
    harness.settle(hook=kubelet.step)
    d = api.get("deployments", "web", "default")
    d["spec"]["paused"] = True
    api.update("deployments", d)
    set_image(api, "busybox:2")
    harness.settle(hook=kubelet.step)
    assert len(api.objs("replicasets", "default")) == 1
    cond = du.get_condition(api.get("deployments", "web", "default")["status"], "Progressing")
    assert (cond["status"], cond["reason"]) == ("Unknown", "DeploymentPaused")
    with pytest.raises(RolloutError, match="paused"):
        undo(api, "default", "web")
    _ = copy
