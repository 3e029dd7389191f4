"""ReplicaSet controller: keep `spec.replicas` pods that match the selector (replica_set.go).

sync(rs):
1. Claim pods: the pods in the namespace whose controller ownerReference is this RS, plus
   orphans matching the selector (adopted with a patch); owned pods that stopped matching
   are released.
2. If the cache may still be missing our own last creations/deletions (expectations), only
   refresh the status. Otherwise create or delete the difference.
3. Write status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
   observedGeneration.
Deletion order (which pods go first) follows Kubernetes' ActivePods ranking.
"""

from __future__ import annotations

import copy
import logging
import secrets
from typing import Any

from minikube_py.k8s.meta import (
    controller_ref,
    is_deleting,
    key_of,
    labels_of,
    name_of,
    namespace_of,
    new_controller_ref,
    parse_time,
    split_key,
    uid_of,
)
from minikube_py.k8s.selectors import selector_matches

from .client import is_already_exists, is_conflict, is_not_found
from .events import NORMAL, WARNING
from .framework import Controller, Expectations
from .podutil import condition, is_active, is_available, is_ready, phase, restarts

log = logging.getLogger(__name__)
Obj = dict[str, Any]

# The alphabet Kubernetes uses for generated names and hashes: no vowels (no words), no
# look-alikes (0/o, 1/l/i).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
BURST_REPLICAS = 500  # most pods created or deleted in one sync, as kube-controller-manager


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice(SAFE_ALPHABET) for _ in range(n))


def pod_from_template(owner: Obj, template: dict) -> Obj:
    """The pod a ReplicaSet creates: template labels/annotations/spec, an ownerReference."""
    tmd = template.get("metadata") or {}
    md: dict[str, Any] = {
        "generateName": f"{name_of(owner)}-",
        "name": f"{name_of(owner)}-{random_suffix()}",
        "namespace": namespace_of(owner),
        "labels": dict(tmd.get("labels") or {}),
        "ownerReferences": [new_controller_ref(owner)],
    }
    if tmd.get("annotations"):
        md["annotations"] = dict(tmd["annotations"])
    if tmd.get("finalizers"):
        md["finalizers"] = list(tmd["finalizers"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def deletion_rank(pod: Obj, pods_on_node: dict[str, int], now: float) -> tuple:
    """Sort key: smaller goes first when scaling down (controller.ActivePodsWithRanks)."""
    spec, st = pod.get("spec") or {}, pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(phase(pod), 0)
    ready = is_ready(pod)
    ready_since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime")) or 0.0
    created = parse_time((pod.get("metadata") or {}).get("creationTimestamp")) or 0.0
    cost = int(
        ((pod.get("metadata") or {}).get("annotations") or {}).get(
            "controller.kubernetes.io/pod-deletion-cost", 0
        )
        or 0
    )
    return (
        1 if spec.get("nodeName") else 0,  # 1. not yet scheduled first
        phase_rank,  # 2. Pending < Unknown < Running
        1 if ready else 0,  # 3. not ready first
        -pods_on_node.get(spec.get("nodeName") or "", 0),  # 4. crowded nodes first
        cost,  # 5. lower deletion cost first
        -ready_since if ready else 0,  # 6. ready for less time first
        -restarts(pod),  # 7. more restarts first
        -created,  # 8. newer first
        st.get("podIP") or "",
    )


def rs_status(rs: Obj, pods: list[Obj], now: float) -> dict:
    template_labels = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    status = dict(rs.get("status") or {})
    status.update(
        {
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(
                1 for p in pods if all(labels_of(p).get(k) == v for k, v in template_labels.items())
            ),
            "readyReplicas": sum(1 for p in pods if is_ready(p)),
            "availableReplicas": sum(1 for p in pods if is_available(p, min_ready, now)),
            "observedGeneration": (rs.get("metadata") or {}).get("generation", 0),
        }
    )
    return status


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    workers = 2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rs_informer = self.informers.informer("replicasets")
        self.pod_informer = self.informers.informer("pods")
        self.expectations = Expectations()
        self.rs_informer.add_handler(
            lambda rs: self.enqueue(key_of(rs)), lambda old, new: self.enqueue(key_of(new)), self._rs_deleted
        )
        self.pod_informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # ------------------------------------------------------------ events -> keys
    def _rs_deleted(self, rs: Obj) -> None:
        self.expectations.forget(key_of(rs))
        self.enqueue(key_of(rs))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        rs = self.rs_informer.get(ref["name"], namespace_of(pod))
        if rs is None or uid_of(rs) != ref.get("uid"):
            return None
        return key_of(rs)

    def _enqueue_matching(self, pod: Obj) -> None:
        """An orphan pod: every RS that would adopt it takes a look."""
        for rs in self.rs_informer.list(namespace_of(pod)):
            if selector_matches(
                (rs.get("spec") or {}).get("selector"), labels_of(pod), empty_matches_all=False
            ):
                self.enqueue(key_of(rs))

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            if is_deleting(pod):
                self.expectations.deletion_observed(key, key_of(pod))
            else:
                self.expectations.creation_observed(key)
            self.enqueue(key)
        elif controller_ref(pod) is None and not is_deleting(pod):
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        if key is not None and is_deleting(new) and not is_deleting(old):
            self.expectations.deletion_observed(key, key_of(new))
        old_key = self._owner_key(old)
        if old_key and old_key != key:
            self.enqueue(old_key)
        if key is not None:
            self.enqueue(key)
            # A pod that became ready turns available minReadySeconds later: look again then.
            rs = self.rs_informer.get_by_key(key)
            min_ready = int(((rs or {}).get("spec") or {}).get("minReadySeconds") or 0)
            if min_ready and is_ready(new) and not is_ready(old):
                self.queue.add_after(key, min_ready + 1)
        elif controller_ref(new) is None:
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self.enqueue(key)

    # ------------------------------------------------------------ the loop
    def claim_pods(self, rs: Obj) -> list[Obj]:
        """Owned pods, adopting matching orphans and releasing owned pods that do not match."""
        selector = (rs.get("spec") or {}).get("selector")
        owned = []
        for pod in self.pod_informer.list(namespace_of(rs)):
            ref = controller_ref(pod)
            matches = selector_matches(selector, labels_of(pod), empty_matches_all=False)
            if ref is not None and ref.get("uid") == uid_of(rs):
                if matches:
                    owned.append(pod)
                elif not is_deleting(pod):
                    self._release(rs, pod)
            elif ref is None and matches and not is_deleting(pod) and not is_deleting(rs):
                adopted = self._adopt(rs, pod)
                if adopted is not None:
                    owned.append(adopted)
        return owned

    def _adopt(self, rs: Obj, pod: Obj) -> Obj | None:
        refs = [*list((pod.get("metadata") or {}).get("ownerReferences") or []), new_controller_ref(rs)]
        try:
            return self.client.patch(
                "pods",
                name_of(pod),
                {
                    "metadata": {
                        "ownerReferences": refs,
                        "resourceVersion": pod["metadata"].get("resourceVersion"),
                    }
                },
                namespace_of(pod),
            )
        except Exception as exc:
            if is_not_found(exc) or is_conflict(exc):
                return None
            raise

    def _release(self, rs: Obj, pod: Obj) -> None:
        refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("uid") != uid_of(rs)]
        try:
            self.client.patch(
                "pods",
                name_of(pod),
                {
                    "metadata": {
                        "ownerReferences": refs,
                        "resourceVersion": pod["metadata"].get("resourceVersion"),
                    }
                },
                namespace_of(pod),
            )
        except Exception as exc:
            if not (is_not_found(exc) or is_conflict(exc)):
                raise

    def sync(self, key: str) -> float | None:
        namespace, name = split_key(key)
        rs = self.rs_informer.get(name, namespace)
        if rs is None:
            self.expectations.forget(key)
            return None
        now = self.clock()
        pods = [p for p in self.claim_pods(rs) if is_active(p)]
        error: Exception | None = None
        if self.expectations.satisfied(key) and not is_deleting(rs):
            try:
                pods = self.manage_replicas(rs, pods, key)
            except Exception as exc:  # noqa: BLE001 - still write status, then retry with backoff
                error = exc
        status = rs_status(rs, pods, now)
        if status != (rs.get("status") or {}):
            updated = copy.deepcopy(rs)
            updated["status"] = status
            self.client.update("replicasets", updated, namespace, subresource="status")
        if error is not None:
            raise error
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready and status["readyReplicas"] > status["availableReplicas"]:
            return float(min_ready)  # some ready pods turn available later: recount then
        return None

    def manage_replicas(self, rs: Obj, pods: list[Obj], key: str) -> list[Obj]:
        """Create or delete the difference; return the pods that remain active."""
        want = int((rs.get("spec") or {}).get("replicas", 1))
        diff = len(pods) - want
        if diff < 0:
            count = min(-diff, BURST_REPLICAS)
            self.expectations.expect(key, adds=count)
            created = self._create_pods(rs, count, key)
            return pods + created
        if diff > 0:
            count = min(diff, BURST_REPLICAS)
            on_node: dict[str, int] = {}
            for p in pods:
                n = (p.get("spec") or {}).get("nodeName") or ""
                on_node[n] = on_node.get(n, 0) + 1
            now = self.clock()
            victims = sorted(pods, key=lambda p: deletion_rank(p, on_node, now))[:count]
            self.expectations.expect(key, deletes={key_of(p) for p in victims})
            gone = []
            for pod in victims:
                try:
                    self.client.delete("pods", name_of(pod), namespace_of(pod), uid=uid_of(pod))
                except Exception as exc:
                    self.expectations.deletion_observed(key, key_of(pod))
                    if not is_not_found(exc):
                        self.recorder.event(rs, WARNING, "FailedDelete", f"Error deleting: {exc}")
                        raise
                gone.append(pod)
                self.recorder.event(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {name_of(pod)}")
            names = {name_of(p) for p in gone}
            return [p for p in pods if name_of(p) not in names]
        return pods

    def _create_pods(self, rs: Obj, count: int, key: str) -> list[Obj]:
        """Slow start, as Kubernetes: batches of 1, 2, 4 ... stop at the first failing batch,
        so a quota or admission error costs one request, not five hundred."""
        template = (rs.get("spec") or {}).get("template") or {}
        created: list[Obj] = []
        batch, left = 1, count
        while left > 0:
            n = min(batch, left)
            for i in range(n):
                try:
                    pod = self._create_one(rs, template)
                    created.append(pod)
                    self.recorder.event(rs, NORMAL, "SuccessfulCreate", f"Created pod: {name_of(pod)}")
                except Exception as exc:
                    # The rest of this batch and all later batches will not happen.
                    self.expectations.lower_adds(key, left - i)
                    self.recorder.event(rs, WARNING, "FailedCreate", f"Error creating: {exc}")
                    raise
            left -= n
            batch *= 2
        return created

    def _create_one(self, rs: Obj, template: dict) -> Obj:
        for _ in range(5):  # a random name may collide; pick another
            pod = pod_from_template(rs, template)
            try:
                return self.client.create("pods", pod, namespace_of(rs))
            except Exception as exc:
                if not is_already_exists(exc):
                    raise
        raise RuntimeError(f"could not find a free pod name for {name_of(rs)}")
