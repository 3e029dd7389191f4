"""Deployment controller: roll pod templates out through ReplicaSets (deployment_controller.go).

A Deployment never touches pods. For each version of its pod template it keeps one
ReplicaSet named `<deployment>-<pod-template-hash>`, and a rollout is only the resizing of
those ReplicaSets:
- RollingUpdate: grow the new RS while the total stays <= replicas + maxSurge, shrink old
  ones while the available pods stay >= replicas - maxUnavailable. One step per sync; the
  ReplicaSet controller creates/deletes the pods and reports availability in RS status,
  whose update triggers the next step.
- Recreate: old ReplicaSets to 0, wait until no old pod runs, then the new one to replicas.
Each RS carries `deployment.kubernetes.io/revision`; rolling back is making an old RS's
template the Deployment's template again (rollout.py), which makes that RS "new" again
with the next revision number. Old RSs beyond revisionHistoryLimit are deleted.
"""

from __future__ import annotations

import copy
import logging
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

from . import deployutil as du
from .client import is_already_exists, is_conflict, is_not_found
from .events import NORMAL, WARNING
from .framework import Controller
from .hashing import HASH_LABEL, compute_hash
from .podutil import is_terminal

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class DeploymentController(Controller):
    name = "deployment-controller"
    workers = 2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.d_informer = self.informers.informer("deployments")
        self.rs_informer = self.informers.informer("replicasets")
        self.pod_informer = self.informers.informer("pods")
        self.d_informer.add_handler(
            lambda d: self.enqueue(key_of(d)),
            lambda old, new: self.enqueue(key_of(new)),
            lambda d: self.enqueue(key_of(d)),
        )
        self.rs_informer.add_handler(
            self._rs_changed, lambda old, new: self._rs_changed(new, old), self._rs_changed
        )
        # Recreate waits for old pods to be gone: their deletion is worth a look.
        self.pod_informer.add_handler(on_delete=self._pod_deleted)

    # ------------------------------------------------------------ events -> keys
    def _owner_key(self, rs: Obj) -> str | None:
        ref = controller_ref(rs)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.d_informer.get(ref["name"], namespace_of(rs))
        return key_of(d) if d is not None and uid_of(d) == ref.get("uid") else None

    def _rs_changed(self, rs: Obj, old: Obj | None = None) -> None:
        for obj in (rs, old):
            if obj is None:
                continue
            key = self._owner_key(obj)
            if key is not None:
                self.enqueue(key)
            elif controller_ref(obj) is None:
                for d in self.d_informer.list(namespace_of(obj)):
                    if selector_matches(du.spec(d).get("selector"), labels_of(obj), empty_matches_all=False):
                        self.enqueue(key_of(d))

    def _pod_deleted(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs_informer.get(ref["name"], namespace_of(pod))
        if rs is not None:
            key = self._owner_key(rs)
            if key is not None:
                d = self.d_informer.get_by_key(key)
                if d is not None and du.strategy_type(d) == "Recreate":
                    self.enqueue(key)

    # ------------------------------------------------------------ claiming replica sets
    def claim_replica_sets(self, d: Obj) -> list[Obj]:
        selector = du.spec(d).get("selector")
        owned = []
        for rs in self.rs_informer.list(namespace_of(d)):
            ref = controller_ref(rs)
            matches = selector_matches(selector, labels_of(rs), empty_matches_all=False)
            if ref is not None and ref.get("uid") == uid_of(d):
                if matches:
                    owned.append(rs)
                elif not is_deleting(rs):
                    refs = [
                        r for r in rs["metadata"].get("ownerReferences") or [] if r.get("uid") != uid_of(d)
                    ]
                    self._patch_refs(rs, refs)
            elif ref is None and matches and not is_deleting(rs) and not is_deleting(d):
                refs = [*list(rs["metadata"].get("ownerReferences") or []), new_controller_ref(d)]
                adopted = self._patch_refs(rs, refs)
                if adopted is not None:
                    owned.append(adopted)
        return owned

    def _patch_refs(self, rs: Obj, refs: list) -> Obj | None:
        try:
            return self.client.patch(
                "replicasets",
                name_of(rs),
                {
                    "metadata": {
                        "ownerReferences": refs,
                        "resourceVersion": rs["metadata"].get("resourceVersion"),
                    }
                },
                namespace_of(rs),
            )
        except Exception as exc:
            if is_not_found(exc) or is_conflict(exc):
                return None
            raise

    # ------------------------------------------------------------ sync
    def sync(self, key: str) -> float | None:
        namespace, name = split_key(key)
        cached = self.d_informer.get(name, namespace)
        if cached is None:
            return None
        d = copy.deepcopy(cached)
        rss = self.claim_replica_sets(d)
        if is_deleting(d):
            return self._sync_status_only(d, rss)
        d = self._check_paused_conditions(d)
        if du.spec(d).get("paused"):
            return self._sync_scale(d, rss)
        if self._is_scaling_event(d, rss):
            return self._sync_scale(d, rss)
        # Act on ReplicaSet counts only once their own controller has caught up with our last
        # resize (status.observedGeneration): stale counts could take too many pods down.
        if any(
            du.rs_status(rs, "observedGeneration") < (rs["metadata"].get("generation") or 0)
            for rs in rss
            if not is_deleting(rs)
        ):
            return None
        if du.strategy_type(d) == "Recreate":
            return self._rollout_recreate(d, rss)
        return self._rollout_rolling(d, rss)

    # ------------------------------------------------------------ writes
    def _write_status(self, d: Obj, status: dict) -> Obj:
        d = copy.deepcopy(d)
        d["status"] = status
        return self.client.update("deployments", d, namespace_of(d), subresource="status")

    def _set_revision(self, d: Obj, rev: str) -> Obj:
        """The Deployment shows the revision of its newest ReplicaSet (SetDeploymentRevision)."""
        anns = (d.get("metadata") or {}).get("annotations") or {}
        if anns.get(du.REVISION) == rev:
            return d
        return self.client.patch(
            "deployments", name_of(d), {"metadata": {"annotations": {du.REVISION: rev}}}, namespace_of(d)
        )

    def _scale_rs(self, rs: Obj, size: int, d: Obj, operation: str | None = None) -> Obj:
        """Resize one ReplicaSet; its desired/max-replicas annotations remember the Deployment
        size it was sized for (proportional scaling reads them)."""
        anns = dict((rs.get("metadata") or {}).get("annotations") or {})
        want_anns = {
            du.DESIRED_REPLICAS: str(du.replicas(d)),
            du.MAX_REPLICAS: str(du.replicas(d) + du.max_surge(d)),
        }
        old_size = du.rs_replicas(rs)
        if old_size == size and all(anns.get(k) == v for k, v in want_anns.items()):
            return rs
        new = copy.deepcopy(rs)
        new["spec"]["replicas"] = size
        new["metadata"]["annotations"] = {**anns, **want_anns}
        out = self.client.update("replicasets", new, namespace_of(rs))
        if old_size != size:
            direction = operation or ("up" if size > old_size else "down")
            self.recorder.event(
                d,
                NORMAL,
                "ScalingReplicaSet",
                # kube-controller-manager's wording (sync.go scaleReplicaSet): "to N from M"
                f"Scaled {direction} replica set {name_of(rs)} to {size} from {old_size}",
            )
        return out

    # ------------------------------------------------------------ new and old replica sets
    def _new_and_old(self, d: Obj, rss: list[Obj], create: bool) -> tuple[Obj | None, list[Obj], Obj]:
        """(new RS or None, old RSs, possibly updated Deployment) — getAllReplicaSetsAndSyncRevision."""
        existing = du.find_new_rs(d, rss)
        olds = [rs for rs in rss if existing is None or uid_of(rs) != uid_of(existing)]
        max_old = max((du.revision(rs) for rs in olds), default=0)
        new_revision = str(max_old + 1)
        now = self.clock()
        if existing is not None:
            rs = copy.deepcopy(existing)
            if self._set_rs_annotations(d, rs, new_revision, exists=True) or int(
                du.spec(rs).get("minReadySeconds") or 0
            ) != du.min_ready_seconds(d):
                rs["spec"]["minReadySeconds"] = du.min_ready_seconds(d)
                rs = self.client.update("replicasets", rs, namespace_of(rs))
            d = self._set_revision(
                d, ((rs["metadata"].get("annotations") or {}).get(du.REVISION)) or new_revision
            )
            status = copy.deepcopy(d.get("status") or {})
            if du.progress_deadline(d) is not None and du.get_condition(status, "Progressing") is None:
                du.set_condition(
                    status,
                    du.new_condition(
                        "Progressing", "True", du.FOUND_NEW_RS, f'Found new replica set "{name_of(rs)}"', now
                    ),
                )
                d = self._write_status(d, status)
            return rs, olds, d
        if not create:
            return None, olds, d
        template = copy.deepcopy(du.spec(d).get("template") or {})
        collision = (d.get("status") or {}).get("collisionCount")
        h = compute_hash(template, collision)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(du.spec(d).get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name_of(d)}-{h}",
                "namespace": namespace_of(d),
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [new_controller_ref(d)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": du.min_ready_seconds(d),
                "selector": selector,
                "template": template,
            },
        }
        size = du.new_rs_new_replicas(d, [*olds, rs], rs)
        rs["spec"]["replicas"] = size
        self._set_rs_annotations(d, rs, new_revision, exists=False)
        try:
            created = self.client.create("replicasets", rs, namespace_of(d))
        except Exception as exc:
            if is_already_exists(exc):
                other = self._get_rs(namespace_of(d), rs["metadata"]["name"])
                ref = controller_ref(other) if other else None
                if (
                    other is not None
                    and ref is not None
                    and ref.get("uid") == uid_of(d)
                    and du.equal_ignore_hash(du.spec(other).get("template"), du.spec(d).get("template"))
                ):
                    return other, olds, d  # our own, the cache was just behind
                # A different template hashed to the same name: count the collision, retry.
                status = copy.deepcopy(d.get("status") or {})
                status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                self._write_status(d, status)
                raise
            msg = f'Failed to create new replica set "{rs["metadata"]["name"]}": {exc}'
            self.recorder.event(d, WARNING, "FailedCreate", msg)
            if du.progress_deadline(d) is not None:
                status = copy.deepcopy(d.get("status") or {})
                du.set_condition(
                    status, du.new_condition("Progressing", "False", "ReplicaSetCreateError", msg, now)
                )
                try:
                    self._write_status(d, status)
                except Exception:
                    log.debug("status write after a failed create failed too", exc_info=True)
            raise
        if size > 0:
            self.recorder.event(
                d, NORMAL, "ScalingReplicaSet", f"Scaled up replica set {name_of(created)} from 0 to {size}"
            )
        d = self._set_revision(d, new_revision)
        if du.progress_deadline(d) is not None:
            status = copy.deepcopy(d.get("status") or {})
            du.set_condition(
                status,
                du.new_condition(
                    "Progressing",
                    "True",
                    du.NEW_RS_CREATED,
                    f'Created new replica set "{name_of(created)}"',
                    now,
                ),
            )
            d = self._write_status(d, status)
        return created, olds, d

    def _get_rs(self, namespace: str | None, name: str) -> Obj | None:
        try:
            return self.client.get("replicasets", name, namespace)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    def _set_rs_annotations(self, d: Obj, rs: Obj, new_revision: str, exists: bool) -> bool:
        """Copy the Deployment's annotations, bump the revision, keep a revision history
        (SetNewReplicaSetAnnotations). True if anything changed."""
        md = rs.setdefault("metadata", {})
        anns = dict(md.get("annotations") or {})
        before = dict(anns)
        for k, v in ((d.get("metadata") or {}).get("annotations") or {}).items():
            if k not in du.SKIP_ANNOTATIONS:
                anns[k] = v
        old_rev = anns.get(du.REVISION)
        try:
            old_num = int(old_rev) if old_rev else 0
        except ValueError:
            old_num = 0
        if old_num < int(new_revision):
            anns[du.REVISION] = new_revision
            if old_rev and exists:  # a rollback brought this RS back: remember where it was
                history = anns.get(du.REVISION_HISTORY)
                anns[du.REVISION_HISTORY] = f"{history},{old_rev}" if history else old_rev
        if not exists:
            anns[du.DESIRED_REPLICAS] = str(du.replicas(d))
            anns[du.MAX_REPLICAS] = str(du.replicas(d) + du.max_surge(d))
        md["annotations"] = anns
        return anns != before

    # ------------------------------------------------------------ scaling (sync.go)
    def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        new, olds, _ = self._new_and_old(d, rss, create=False)
        for rs in du.active([*olds, new]):
            desired = ((rs.get("metadata") or {}).get("annotations") or {}).get(du.DESIRED_REPLICAS)
            if desired is not None and desired != str(du.replicas(d)):
                return True
        return False

    def _sync_scale(self, d: Obj, rss: list[Obj]) -> float | None:
        new, olds, d = self._new_and_old(d, rss, create=False)
        self._scale(d, new, olds)
        if du.spec(d).get("paused"):
            self._cleanup(d, olds)
        return self._sync_status(d, [*olds, new], new)

    def _scale(self, d: Obj, new: Obj | None, olds: list[Obj]) -> None:
        """Resize for a change of spec.replicas, in proportion when a rollout is in flight."""
        by_age = sorted(olds, key=du.created, reverse=True)
        actives = du.active([*by_age, new])
        target = None
        if len(actives) == 1:
            target = actives[0]
        elif not actives and (new is not None or by_age):
            target = new if new is not None else by_age[0]
        if target is not None:
            if du.rs_replicas(target) != du.replicas(d):
                self._scale_rs(target, du.replicas(d), d)
            return
        if du.is_saturated(d, new):
            for rs in du.active(olds):
                self._scale_rs(rs, 0, d)
            return
        if du.strategy_type(d) != "RollingUpdate":
            return
        allowed = du.replicas(d) + du.max_surge(d) if du.replicas(d) > 0 else 0
        to_add = allowed - du.sum_spec(actives)
        if to_add > 0:  # larger first; newer first among equals
            actives.sort(key=lambda rs: (-du.rs_replicas(rs), -du.created(rs)[0]))
            operation = "up"
        elif to_add < 0:  # larger first; older first among equals
            actives.sort(key=lambda rs: (-du.rs_replicas(rs), du.created(rs)[0]))
            operation = "down"
        else:
            operation = None
        added = 0
        sizes: dict[str, int] = {}
        status_replicas = int((d.get("status") or {}).get("replicas") or 0)
        for rs in actives:
            p = du.proportion(rs, d, to_add, added, status_replicas) if to_add else 0
            sizes[name_of(rs)] = du.rs_replicas(rs) + p
            added += p
        for i, rs in enumerate(actives):
            if i == 0 and to_add:
                sizes[name_of(rs)] = max(sizes[name_of(rs)] + (to_add - added), 0)
            self._scale_rs(rs, sizes[name_of(rs)], d, operation)

    # ------------------------------------------------------------ rolling update (rolling.go)
    def _rollout_rolling(self, d: Obj, rss: list[Obj]) -> float | None:
        new, olds, d = self._new_and_old(d, rss, create=True)
        assert new is not None
        all_rss = [*olds, new]
        if self._reconcile_new(d, all_rss, new):
            return self._sync_rollout_status(d, all_rss, new)
        if self._reconcile_olds(d, all_rss, du.active(olds), new):
            return self._sync_rollout_status(d, all_rss, new)
        if du.deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, olds)
        return self._sync_rollout_status(d, all_rss, new)

    def _reconcile_new(self, d: Obj, all_rss: list[Obj], new: Obj) -> bool:
        if du.rs_replicas(new) == du.replicas(d):
            return False
        if du.rs_replicas(new) > du.replicas(d):
            self._scale_rs(new, du.replicas(d), d)
            return True
        size = du.new_rs_new_replicas(d, all_rss, new)
        if size == du.rs_replicas(new):
            return False
        self._scale_rs(new, size, d)
        return True

    def _reconcile_olds(self, d: Obj, all_rss: list[Obj], olds: list[Obj], new: Obj) -> bool:
        """Shrink old ReplicaSets, never below replicas - maxUnavailable available pods."""
        if du.sum_spec(olds) == 0:
            return False
        all_count = du.sum_spec(all_rss)
        min_available = du.replicas(d) - du.max_unavailable(d)
        new_unavailable = du.rs_replicas(new) - du.rs_status(new, "availableReplicas")
        max_scale_down = all_count - min_available - new_unavailable
        if max_scale_down <= 0:
            return False
        # First the old pods that are not available anyway (they cost no availability).
        olds, cleaned = self._cleanup_unhealthy(d, olds, max_scale_down)
        all_rss = [*olds, new]
        scaled = self._scale_down_olds(d, all_rss, olds)
        return cleaned + scaled > 0

    def _cleanup_unhealthy(self, d: Obj, olds: list[Obj], max_cleanup: int) -> tuple[list[Obj], int]:
        total = 0
        out = []
        for rs in sorted(olds, key=du.created):
            if (
                total >= max_cleanup
                or du.rs_replicas(rs) == 0
                or du.rs_replicas(rs) == du.rs_status(rs, "availableReplicas")
            ):
                out.append(rs)
                continue
            down = min(max_cleanup - total, du.rs_replicas(rs) - du.rs_status(rs, "availableReplicas"))
            rs = self._scale_rs(rs, du.rs_replicas(rs) - down, d)
            total += down
            out.append(rs)
        return out, total

    def _scale_down_olds(self, d: Obj, all_rss: list[Obj], olds: list[Obj]) -> int:
        min_available = du.replicas(d) - du.max_unavailable(d)
        available = du.sum_status(all_rss, "availableReplicas")
        if available <= min_available:
            return 0
        budget = available - min_available
        done = 0
        for rs in sorted(olds, key=du.created):
            if done >= budget:
                break
            if du.rs_replicas(rs) == 0:
                continue
            down = min(du.rs_replicas(rs), budget - done)
            self._scale_rs(rs, du.rs_replicas(rs) - down, d)
            done += down
        return done

    # ------------------------------------------------------------ recreate (recreate.go)
    def _rollout_recreate(self, d: Obj, rss: list[Obj]) -> float | None:
        new, olds, d = self._new_and_old(d, rss, create=False)
        all_rss = [*olds, new]
        scaled = False
        for rs in du.active(olds):
            self._scale_rs(rs, 0, d)
            scaled = True
        if scaled:
            return self._sync_rollout_status(d, all_rss, new)
        if self._old_pods_running(new, olds):
            return self._sync_rollout_status(d, all_rss, new)
        if new is None:
            new, olds, d = self._new_and_old(d, rss, create=True)
            all_rss = [*olds, new]
        assert new is not None
        if du.rs_replicas(new) != du.replicas(d):
            self._scale_rs(new, du.replicas(d), d)
        if du.deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, olds)
        return self._sync_rollout_status(d, all_rss, new)

    def _old_pods_running(self, new: Obj | None, olds: list[Obj]) -> bool:
        if du.sum_status(olds, "replicas") > 0:
            return True
        old_uids = {uid_of(rs) for rs in olds}
        for pod in self.pod_informer.list(namespace_of(olds[0]) if olds else None):
            ref = controller_ref(pod)
            if ref is not None and ref.get("uid") in old_uids and not is_terminal(pod):
                return True  # even a terminating pod still runs until its kubelet says so
        return False

    # ------------------------------------------------------------ history
    def _cleanup(self, d: Obj, olds: list[Obj]) -> None:
        """Delete the oldest unused ReplicaSets beyond spec.revisionHistoryLimit."""
        cleanable = [rs for rs in olds if not is_deleting(rs)]
        diff = len(cleanable) - du.revision_history_limit(d)
        if diff <= 0:
            return
        for rs in sorted(cleanable, key=lambda r: (du.revision(r), du.created(r)))[:diff]:
            if (
                du.rs_status(rs, "replicas") != 0
                or du.rs_replicas(rs) != 0
                or (rs["metadata"].get("generation") or 0) > du.rs_status(rs, "observedGeneration")
            ):
                continue
            try:
                self.client.delete("replicasets", name_of(rs), namespace_of(rs))
            except Exception as exc:
                if not is_not_found(exc):
                    raise

    # ------------------------------------------------------------ status (progress.go)
    def _check_paused_conditions(self, d: Obj) -> Obj:
        if du.progress_deadline(d) is None:
            return d
        status = copy.deepcopy(d.get("status") or {})
        cond = du.get_condition(status, "Progressing")
        paused = bool(du.spec(d).get("paused"))
        if cond is not None and cond.get("reason") == du.TIMED_OUT:
            return d
        now = self.clock()
        if paused and (cond is None or cond.get("reason") != du.PAUSED):
            du.set_condition(
                status, du.new_condition("Progressing", "Unknown", du.PAUSED, "Deployment is paused", now)
            )
        elif not paused and cond is not None and cond.get("reason") == du.PAUSED:
            du.set_condition(
                status, du.new_condition("Progressing", "Unknown", du.RESUMED, "Deployment is resumed", now)
            )
        else:
            return d
        return self._write_status(d, status)

    def _sync_status_only(self, d: Obj, rss: list[Obj]) -> float | None:
        new, olds, d = self._new_and_old(d, rss, create=False)
        return self._sync_status(d, [*olds, new], new)

    def _sync_status(self, d: Obj, all_rss: list[Obj | None], new: Obj | None) -> float | None:
        status = du.calculate_status(all_rss, new, d, self.clock())
        if status != (d.get("status") or {}):
            self._write_status(d, status)
        return None

    def _sync_rollout_status(self, d: Obj, all_rss: list[Obj | None], new: Obj | None) -> float | None:
        now = self.clock()
        status = du.calculate_status(all_rss, new, d, now)
        deadline = du.progress_deadline(d)
        if deadline is None:
            du.remove_condition(status, "Progressing")
        current = du.get_condition(d.get("status") or {}, "Progressing")
        complete_before = (
            status["replicas"] == status["updatedReplicas"]
            and current is not None
            and current.get("reason") == du.NEW_RS_AVAILABLE
        )
        if deadline is not None and not complete_before:
            if du.deployment_complete(d, status):
                msg = (
                    f'ReplicaSet "{name_of(new)}" has successfully progressed.'
                    if new is not None
                    else f'Deployment "{name_of(d)}" has successfully progressed.'
                )
                du.set_condition(
                    status, du.new_condition("Progressing", "True", du.NEW_RS_AVAILABLE, msg, now)
                )
            elif du.deployment_progressing(d, status):
                msg = (
                    f'ReplicaSet "{name_of(new)}" is progressing.'
                    if new is not None
                    else f'Deployment "{name_of(d)}" is progressing.'
                )
                cond = du.new_condition("Progressing", "True", du.RS_UPDATED, msg, now)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    du.remove_condition(status, "Progressing")
                du.set_condition(status, cond)
            elif du.deployment_timed_out(d, status, now):
                msg = (
                    f'ReplicaSet "{name_of(new)}" has timed out progressing.'
                    if new is not None
                    else f'Deployment "{name_of(d)}" has timed out progressing.'
                )
                du.set_condition(status, du.new_condition("Progressing", "False", du.TIMED_OUT, msg, now))
                if (du.get_condition(d.get("status") or {}, "Progressing") or {}).get(
                    "reason"
                ) != du.TIMED_OUT:
                    self.recorder.event(d, WARNING, du.TIMED_OUT, msg)
        if status != (d.get("status") or {}):
            self._write_status(d, status)
        return self._requeue_stuck(d, status, now)

    def _requeue_stuck(self, d: Obj, status: dict, now: float) -> float | None:
        """No progress yet: look again when the progress deadline would pass."""
        deadline = du.progress_deadline(d)
        cond = du.get_condition(status, "Progressing")
        if (
            deadline is None
            or cond is None
            or du.deployment_complete(d, status)
            or cond.get("reason") == du.TIMED_OUT
        ):
            return None
        since = parse_time(cond.get("lastUpdateTime")) or now
        return max(since + deadline - now, 0.0) + 1.0
