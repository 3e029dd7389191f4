"""Garbage collector: delete what nobody owns any more (garbagecollector.go, simplified).

Objects point at their owners with metadata.ownerReferences (a pod at its ReplicaSet, a
ReplicaSet at its Deployment). Deleting an owner chooses what happens to its dependents
with `propagationPolicy`:
- Background (default): the owner goes at once; this loop then finds dependents whose
  owners are all gone and deletes them.
- Foreground: the API server keeps the owner with the `foregroundDeletion` finalizer; this
  loop deletes the dependents, and removes the finalizer once no dependent with
  blockOwnerDeletion=true is left, which lets the owner go.
- Orphan: the owner is kept with the `orphan` finalizer; this loop removes the owner's
  reference from every dependent, then the finalizer. The dependents live on.
Before deleting anything because its owner seems gone, the owner is looked up live (the
cache may just not have seen a new owner yet), and the delete carries the dependent's uid
as a precondition.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from minikube_py.k8s.meta import is_deleting, key_of, uid_of

from .client import RESOURCES, is_conflict, is_not_found, resource_for
from .framework import Controller

log = logging.getLogger(__name__)
Obj = dict[str, Any]

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
WATCHED = [
    "deployments",
    "replicasets",
    "pods",
    "services",
    "endpoints",
    "configmaps",
    "secrets",
    "leases",
    "nodes",
    "persistentvolumeclaims",
]


class GarbageCollector(Controller):
    name = "garbage-collector"
    workers = 2

    def __init__(self, *args: Any, resources: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resources = resources or WATCHED
        self._lock = threading.Lock()
        self.by_uid: dict[str, str] = {}  # uid -> queue key "resource:ns/name"
        self.dependents: dict[str, set[str]] = {}  # owner uid -> dependent queue keys
        self.informers_by_resource = {r: self.informers.informer(r) for r in self.resources}
        for r, inf in self.informers_by_resource.items():
            inf.add_handler(
                lambda o, r=r: self._seen(r, None, o),
                lambda old, new, r=r: self._seen(r, old, new),
                lambda o, r=r: self._gone(r, o),
            )

    # ------------------------------------------------------------ the graph
    @staticmethod
    def qkey(resource: str, obj: Obj) -> str:
        return f"{resource}:{key_of(obj)}"

    def _seen(self, resource: str, old: Obj | None, obj: Obj) -> None:
        k = self.qkey(resource, obj)
        owners = [r.get("uid") for r in (obj.get("metadata") or {}).get("ownerReferences") or []]
        old_owners = [r.get("uid") for r in ((old or {}).get("metadata") or {}).get("ownerReferences") or []]
        with self._lock:
            self.by_uid[uid_of(obj)] = k
            for u in old_owners:
                if u not in owners:
                    self.dependents.get(u, set()).discard(k)
            for u in owners:
                self.dependents.setdefault(u, set()).add(k)
            missing = any(u not in self.by_uid for u in owners)
        finalizers = (obj.get("metadata") or {}).get("finalizers") or []
        if is_deleting(obj) and (ORPHAN in finalizers or FOREGROUND in finalizers):
            self.enqueue(k)
        if owners and missing:
            self.enqueue(k)
        # A dependent that changed (e.g. started deleting) may unblock a foreground owner.
        for u in owners:
            self._enqueue_uid_if_deleting(u)

    def _gone(self, resource: str, obj: Obj) -> None:
        k = self.qkey(resource, obj)
        uid = uid_of(obj)
        with self._lock:
            self.by_uid.pop(uid, None)
            deps = set(self.dependents.pop(uid, set()))
            owners = [r.get("uid") for r in (obj.get("metadata") or {}).get("ownerReferences") or []]
            for u in owners:
                self.dependents.get(u, set()).discard(k)
        for d in deps:
            self.enqueue(d)
        for u in owners:
            self._enqueue_uid_if_deleting(u)

    def _enqueue_uid_if_deleting(self, uid: str | None) -> None:
        with self._lock:
            k = self.by_uid.get(uid or "")
        if k is None:
            return
        obj = self._cached(k)
        if obj is not None and is_deleting(obj):
            self.enqueue(k)

    def _cached(self, qkey: str) -> Obj | None:
        resource, _, key = qkey.partition(":")
        inf = self.informers_by_resource.get(resource)
        return inf.get_by_key(key) if inf is not None else None

    def _dependents_of(self, uid: str) -> list[tuple[str, Obj]]:
        with self._lock:
            keys = list(self.dependents.get(uid, set()))
        out = []
        for k in keys:
            obj = self._cached(k)
            if obj is not None and any(
                r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or []
            ):
                out.append((k, obj))
        return out

    # ------------------------------------------------------------ sync
    def sync(self, qkey: str) -> float | None:
        obj = self._cached(qkey)
        if obj is None:
            return None
        resource = qkey.partition(":")[0]
        md = obj["metadata"]
        finalizers = md.get("finalizers") or []
        if is_deleting(obj) and ORPHAN in finalizers:
            self._orphan_dependents(obj)
            self._remove_finalizer(resource, obj, ORPHAN)
            return None
        if is_deleting(obj) and FOREGROUND in finalizers:
            return self._foreground(resource, obj)
        if md.get("ownerReferences") and not is_deleting(obj):
            self._check_owners(resource, obj)
        return None

    def _orphan_dependents(self, owner: Obj) -> None:
        uid = uid_of(owner)
        for k, dep in self._dependents_of(uid):
            refs = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            self._patch_refs(k.partition(":")[0], dep, refs)

    def _foreground(self, resource: str, owner: Obj) -> float | None:
        blocking = 0
        for k, dep in self._dependents_of(uid_of(owner)):
            ref = next(r for r in dep["metadata"]["ownerReferences"] if r.get("uid") == uid_of(owner))
            if ref.get("blockOwnerDeletion"):
                blocking += 1
            if not is_deleting(dep):
                has_own = bool(self._dependents_of(uid_of(dep)))
                self._delete(k.partition(":")[0], dep, "Foreground" if has_own else "Background")
        if blocking == 0:
            self._remove_finalizer(resource, owner, FOREGROUND)
        return None

    def _owner_state(self, dep: Obj, ref: dict) -> str:
        """ "solid", "dangling" (gone, or a different object of that name) or "waiting"
        (being deleted in the foreground)."""
        res = resource_for(ref.get("apiVersion", ""), ref.get("kind", ""))
        if res is None:
            return "solid"  # a kind we do not know: never delete on a guess
        ns = dep["metadata"].get("namespace") if RESOURCES[res][2] else None
        inf = self.informers_by_resource.get(res)
        owner = inf.get(ref["name"], ns) if inf is not None else None
        if owner is None or uid_of(owner) != ref.get("uid"):
            try:
                owner = self.client.get(res, ref["name"], ns)  # the cache may lag: ask
            except Exception as exc:
                if is_not_found(exc):
                    return "dangling"
                raise
        if uid_of(owner) != ref.get("uid"):
            return "dangling"
        if is_deleting(owner) and FOREGROUND in (owner["metadata"].get("finalizers") or []):
            return "waiting"
        return "solid"

    def _check_owners(self, resource: str, obj: Obj) -> None:
        refs = obj["metadata"]["ownerReferences"]
        states = {r.get("uid"): self._owner_state(obj, r) for r in refs}
        solid = [u for u, s in states.items() if s == "solid"]
        if solid:
            if len(solid) != len(refs):  # drop references to owners that are gone
                self._patch_refs(resource, obj, [r for r in refs if states[r.get("uid")] == "solid"])
            return
        finalizers = obj["metadata"].get("finalizers") or []
        waiting = any(s == "waiting" for s in states.values())
        if waiting and self._dependents_of(uid_of(obj)):
            policy = "Foreground"
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        self._delete(resource, obj, policy)

    # ------------------------------------------------------------ writes
    def _delete(self, resource: str, obj: Obj, policy: str) -> None:
        md = obj["metadata"]
        try:
            self.client.delete(
                resource, md["name"], md.get("namespace"), propagation_policy=policy, uid=md.get("uid")
            )
            log.info(
                "garbage collector: deleted %s %s/%s (%s)", resource, md.get("namespace"), md["name"], policy
            )
        except Exception as exc:
            if not (is_not_found(exc) or is_conflict(exc)):
                raise

    def _patch_refs(self, resource: str, obj: Obj, refs: list) -> None:
        md = obj["metadata"]
        try:
            self.client.patch(
                resource,
                md["name"],
                {"metadata": {"ownerReferences": refs or None, "resourceVersion": md.get("resourceVersion")}},
                md.get("namespace"),
            )
        except Exception as exc:
            if is_not_found(exc):
                return
            raise

    def _remove_finalizer(self, resource: str, obj: Obj, finalizer: str) -> None:
        md = obj["metadata"]
        rest = [f for f in md.get("finalizers") or [] if f != finalizer]
        try:
            self.client.patch(
                resource,
                md["name"],
                {"metadata": {"finalizers": rest or None, "resourceVersion": md.get("resourceVersion")}},
                md.get("namespace"),
            )
        except Exception as exc:
            if is_not_found(exc):
                return
            raise
