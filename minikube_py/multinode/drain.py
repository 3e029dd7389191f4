"""Cordon, uncordon, drain: take a node out of service gently (kubectl's drain, step by step).

cordon    node.spec.unschedulable = true: the scheduler places no new pod there.
drain     cordon, then ask each pod to leave through POST pods/NAME/eviction (the API
          may refuse with 429 while a PodDisruptionBudget forbids it; we retry), then
          wait until they are gone. Their controllers re-create them on other nodes.
Which pods are not evicted, as kubectl decides:
  mirror pods   (annotation kubernetes.io/config.mirror) the kubelet's static pods: the
                API copy cannot be evicted; skipped with a message.
  DaemonSet     its controller would put it straight back: an error unless
                --ignore-daemonsets, then skipped with a message.
  unmanaged     no controller re-creates it: an error unless --force, then deleted.
  emptyDir      its data dies with it: an error unless --delete-emptydir-data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from minikube_py.api.errors import ApiError

MIRROR = "kubernetes.io/config.mirror"


class DrainError(Exception):
    """Drain could not finish; the message lists the pods and the flag that would allow them."""


def set_unschedulable(client: Any, node: str, value: bool) -> bool:
    """Returns whether anything changed."""
    try:
        cur = client.get("nodes", node)
    except ApiError as e:
        if e.code == 404:
            raise DrainError(f'node "{node}" not found') from None
        raise
    if bool((cur.get("spec") or {}).get("unschedulable")) == value:
        return False
    client.patch("nodes", node, {"spec": {"unschedulable": True if value else None}})
    return True


@dataclass
class Plan:
    evict: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # messages
    errors: list[str] = field(default_factory=list)


def _controller(pod: dict) -> dict | None:
    return next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def plan(pods: list[dict], *, ignore_daemonsets: bool, force: bool, delete_emptydir_data: bool) -> Plan:
    p = Plan()
    for pod in pods:
        md = pod["metadata"]
        ref = f"{md.get('namespace')}/{md['name']}"
        if md.get("deletionTimestamp"):
            continue
        if MIRROR in (md.get("annotations") or {}):
            p.skipped.append(f"{ref}: a mirror (static) pod, managed by its kubelet; skipped")
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            p.evict.append(pod)
            continue
        owner = _controller(pod)
        if owner is not None and owner.get("kind") == "DaemonSet":
            if ignore_daemonsets:
                p.skipped.append(f"{ref}: DaemonSet-managed; ignored")
            else:
                p.errors.append(f"{ref}: DaemonSet-managed (use --ignore-daemonsets)")
            continue
        if owner is None and not force:
            p.errors.append(f"{ref}: not managed by a controller (use --force)")
            continue
        if (
            any("emptyDir" in v for v in (pod.get("spec") or {}).get("volumes") or [])
            and not delete_emptydir_data
        ):
            p.errors.append(f"{ref}: uses emptyDir local storage (use --delete-emptydir-data)")
            continue
        p.evict.append(pod)
    return p


def evict(client: Any, pod: dict, grace_period: int | None = None) -> None:
    md = pod["metadata"]
    body: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": md["name"], "namespace": md["namespace"]},
    }
    if grace_period is not None and grace_period >= 0:
        body["deleteOptions"] = {"gracePeriodSeconds": grace_period}
    client.request("POST", f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}/eviction", body)


def drain(
    client: Any,
    node: str,
    *,
    ignore_daemonsets: bool = False,
    force: bool = False,
    delete_emptydir_data: bool = False,
    timeout: float = 0.0,
    grace_period: int | None = None,
    say: Callable[[str], None] = print,
    poll: float = 0.2,
) -> list[str]:
    """Cordon and empty `node`; returns the evicted pods' names. timeout 0 = wait forever."""
    if set_unschedulable(client, node, True):
        say(f"node/{node} cordoned")
    pods = client.list("pods", None, field_selector=f"spec.nodeName={node}")["items"]
    p = plan(
        pods, ignore_daemonsets=ignore_daemonsets, force=force, delete_emptydir_data=delete_emptydir_data
    )
    for msg in p.skipped:
        say(f"Warning: {msg}")
    if p.errors:
        # Like kubectl: nothing is evicted when some pod blocks the drain (the node stays cordoned).
        raise DrainError("cannot drain node/" + node + ":\n  " + "\n  ".join(p.errors))
    deadline = time.monotonic() + timeout if timeout > 0 else None
    pending = {(x["metadata"]["namespace"], x["metadata"]["name"]): x["metadata"]["uid"] for x in p.evict}
    asked: set[tuple[str, str]] = set()
    while pending:
        for pod in p.evict:
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
            if key in asked or key not in pending:
                continue
            try:
                evict(client, pod, grace_period)
                asked.add(key)
                say(f"evicting pod {key[0]}/{key[1]}")
            except ApiError as e:
                if e.code == 404:
                    pending.pop(key, None)
                elif e.code != 429:  # 429: a disruption budget says "not now"; try again
                    raise
        for key, uid in list(pending.items()):
            try:
                cur = client.get("pods", key[1], key[0])
                if cur["metadata"]["uid"] != uid:  # same name, a new pod (a StatefulSet's)
                    pending.pop(key)
            except ApiError as e:
                if e.code != 404:
                    raise
                pending.pop(key)
                say(f"pod/{key[1]} evicted")
        if not pending:
            break
        if deadline is not None and time.monotonic() > deadline:
            left = ", ".join(f"{ns}/{n}" for ns, n in sorted(pending))
            raise DrainError(f"drain node/{node}: timed out after {timeout:g}s waiting for {left}")
        time.sleep(poll)
    say(f"node/{node} drained")
    return sorted(n for _, n in asked)
