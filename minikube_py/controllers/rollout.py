"""`kubectl rollout history` and `kubectl rollout undo`, done the way kubectl does them.

There is no rollback in the API (apps/v1 dropped `rollbackTo`): kubectl finds the
ReplicaSet of the wanted revision, and writes its pod template (minus the
pod-template-hash label) back into the Deployment. The Deployment controller then sees
that an existing ReplicaSet matches the template, and rolls out to it.
"""

from __future__ import annotations

import copy
from typing import Any

from minikube_py.k8s.meta import controller_ref, uid_of

from . import deployutil as du
from .client import ApiClient

Obj = dict[str, Any]


class RolloutError(Exception):
    """A rollout command that cannot be done (paused, no such revision)."""


def _owned(client: ApiClient, d: Obj) -> list[Obj]:
    ns = d["metadata"]["namespace"]
    return [
        rs
        for rs in client.list("replicasets", ns).get("items") or []
        if (controller_ref(rs) or {}).get("uid") == uid_of(d)
    ]


def history(client: ApiClient, namespace: str, name: str) -> list[dict]:
    """[{"revision": n, "replicaSet": name, "changeCause": ...}] oldest first."""
    d = client.get("deployments", name, namespace)
    out = []
    for rs in _owned(client, d):
        rev = du.revision(rs)
        if rev:
            anns = rs["metadata"].get("annotations") or {}
            out.append(
                {
                    "revision": rev,
                    "replicaSet": rs["metadata"]["name"],
                    "changeCause": anns.get("kubernetes.io/change-cause"),
                }
            )
    return sorted(out, key=lambda r: r["revision"])


def undo(client: ApiClient, namespace: str, name: str, to_revision: int = 0) -> Obj:
    """Roll back to `to_revision`, or to the previous revision when 0. Returns the Deployment."""
    d = client.get("deployments", name, namespace)
    if du.spec(d).get("paused"):
        raise RolloutError(
            f'deployment "{name}": you cannot rollback a paused deployment; '
            "resume it first with 'kubectl rollout resume deployment/" + name + "' and try again"
        )
    by_rev = {du.revision(rs): rs for rs in _owned(client, d) if du.revision(rs)}
    if to_revision == 0:
        if len(by_rev) < 2:
            raise RolloutError(f'no rollout history found for deployment "{name}"')
        target = by_rev[sorted(by_rev)[-2]]
    else:
        if to_revision not in by_rev:
            raise RolloutError(f"unable to find specified revision {to_revision} in history")
        target = by_rev[to_revision]
    if du.equal_ignore_hash(du.spec(target).get("template"), du.spec(d).get("template")):
        return d  # kubectl: "skipped rollback (current template already matches revision N)"
    new = copy.deepcopy(d)
    new["spec"]["template"] = du.template_without_hash(du.spec(target).get("template"))
    new["spec"]["template"].setdefault("metadata", {})
    # kubectl also carries the old ReplicaSet's annotations (e.g. change-cause) back.
    anns = {k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k in du.SKIP_ANNOTATIONS}
    for k, v in (target["metadata"].get("annotations") or {}).items():
        if k not in du.SKIP_ANNOTATIONS:
            anns[k] = v
    new["metadata"]["annotations"] = anns
    return client.update("deployments", new, namespace)
