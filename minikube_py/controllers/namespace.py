"""Namespace controller: empty a namespace being deleted, then let it go (namespace_controller.go).

`kubectl delete namespace x` only marks it (deletionTimestamp, phase Terminating); the
API server keeps it while `spec.finalizers` holds "kubernetes". This loop deletes every
object inside, reports what is left in status conditions, and once nothing is left,
removes the "kubernetes" finalizer through the namespaces/<name>/finalize subresource —
at which point the API server really deletes the namespace.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from minikube_py.k8s.meta import is_deleting, name_of, now_rfc3339, split_key

from .client import RESOURCES, is_conflict, is_not_found
from .framework import Controller

log = logging.getLogger(__name__)
Obj = dict[str, Any]
FINALIZER = "kubernetes"

# Workloads first (so their controllers stop recreating pods), events last.
ORDER = [
    "deployments",
    "replicasets",
    "pods",
    "services",
    "endpoints",
    "configmaps",
    "secrets",
    "serviceaccounts",
    "persistentvolumeclaims",
    "leases",
    "events",
]


def group_resource(resource: str) -> str:
    """`pods.` / `deployments.apps`: how the namespace controller names resources."""
    api_version = RESOURCES[resource][0]
    group = api_version.rpartition("/")[0]
    return f"{resource}.{group}"


class NamespaceController(Controller):
    name = "namespace-controller"

    def __init__(self, *args: Any, retry_after: float = 2.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after
        self.ns_informer = self.informers.informer("namespaces")
        self.ns_informer.add_handler(self._changed, lambda o, n: self._changed(n), None)
        self.resources = [r for r in ORDER if RESOURCES[r][2]]

    def _changed(self, ns: Obj) -> None:
        if is_deleting(ns):
            self.enqueue(name_of(ns))

    def sync(self, key: str) -> float | None:
        _, name = split_key(key)
        ns = self.ns_informer.get(name)
        if ns is None or not is_deleting(ns):
            return None
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return None
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for resource in self.resources:
            try:
                items = self.client.list(resource, name).get("items") or []
            except Exception as exc:
                if is_not_found(exc):
                    continue  # the server does not serve this resource
                raise
            left = 0
            for obj in items:
                md = obj.get("metadata") or {}
                if not md.get("deletionTimestamp"):
                    try:
                        obj = self.client.delete(resource, md["name"], name) or {}
                    except Exception as exc:
                        if is_not_found(exc):
                            continue
                        raise
                    md = obj.get("metadata") or {}
                    if not md.get("deletionTimestamp"):
                        continue  # gone at once
                left += 1
                for f in md.get("finalizers") or []:
                    finalizers[f] = finalizers.get(f, 0) + 1
            if left:
                remaining[group_resource(resource)] = left
        if remaining:
            self._set_conditions(ns, remaining, finalizers)
            return self.retry_after
        fresh = copy.deepcopy(ns)
        fresh["spec"]["finalizers"] = [f for f in fresh["spec"]["finalizers"] if f != FINALIZER]
        try:
            self.client.update("namespaces", fresh, subresource="finalize")
        except Exception as exc:
            if not (is_not_found(exc) or is_conflict(exc)):
                raise
            if is_conflict(exc):
                return 0.1
        return None

    def _set_conditions(self, ns: Obj, remaining: dict[str, int], finalizers: dict[str, int]) -> None:
        now = now_rfc3339(self.clock())
        content = ", ".join(f"{gr} has {n} resource instances" for gr, n in sorted(remaining.items()))
        conds = [
            {
                "type": "NamespaceContentRemaining",
                "status": "True",
                "lastTransitionTime": now,
                "reason": "SomeResourcesRemain",
                "message": f"Some resources are remaining: {content}",
            }
        ]
        if finalizers:
            fin = ", ".join(f"{f} in {n} resource instances" for f, n in sorted(finalizers.items()))
            conds.append(
                {
                    "type": "NamespaceFinalizersRemaining",
                    "status": "True",
                    "lastTransitionTime": now,
                    "reason": "SomeFinalizersRemain",
                    "message": f"Some content in the namespace has finalizers remaining: {fin}",
                }
            )
        status = dict(ns.get("status") or {})
        old = {c["type"]: c for c in status.get("conditions") or []}
        if (
            all(old.get(c["type"], {}).get("message") == c["message"] for c in conds)
            and len(old) == len(conds)
            and status.get("phase") == "Terminating"
        ):
            return
        status["phase"] = "Terminating"
        status["conditions"] = conds
        try:
            self.client.patch("namespaces", name_of(ns), {"status": status}, subresource="status")
        except Exception as exc:
            if not is_not_found(exc):
                raise
