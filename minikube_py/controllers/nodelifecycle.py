"""Node lifecycle controller: notice a silent node, taint it, evict its pods (node_lifecycle_controller.go).

A kubelet proves it is alive by renewing its Lease (`kube-node-lease/<node>`, spec.renewTime)
every few seconds and by posting node status. This loop remembers *when it saw* the last
renewal (its own clock, so skew between machines does not matter). If nothing new is seen
for `grace_period` (kube-controller-manager's --node-monitor-grace-period):
- the node's conditions become Unknown ("Kubelet stopped posting node status."), its pods
  are marked not Ready (so endpoints drop them), and an event says NodeNotReady;
- the node gets the taints node.kubernetes.io/unreachable:NoSchedule (no new pods) and
  :NoExecute (pods must go); Ready=False gives node.kubernetes.io/not-ready instead;
- a pod is evicted (deleted) once it has not tolerated a NoExecute taint for its
  tolerationSeconds; pods without a toleration for not-ready/unreachable get
  `eviction_timeout` (the 300 s the DefaultTolerationSeconds admission plugin adds).
When the node reports Ready again, the taints go away.

Taints by condition (TaintNodesByCondition): a kubelet under pressure reports MemoryPressure,
DiskPressure or PIDPressure True (minikube_py/kubelet/eviction.py); the node then gets
node.kubernetes.io/memory-pressure (disk-pressure, pid-pressure):NoSchedule, so the scheduler
sends no new pods there, until the condition is False again.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from minikube_py.k8s.meta import is_deleting, name_of, namespace_of, now_rfc3339, parse_time, split_key
from minikube_py.k8s.tolerations import tolerates

from .client import is_conflict, is_not_found
from .events import NORMAL
from .framework import Controller
from .podutil import condition

log = logging.getLogger(__name__)
Obj = dict[str, Any]

LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
PRESSURE_TAINTS = {
    "MemoryPressure": "node.kubernetes.io/memory-pressure",
    "DiskPressure": "node.kubernetes.io/disk-pressure",
    "PIDPressure": "node.kubernetes.io/pid-pressure",
}
MANAGED_TAINTS = (NOT_READY, UNREACHABLE, *PRESSURE_TAINTS.values())


def tolerated_for(pod: Obj, taint: dict, default_seconds: float) -> float | None:
    """Seconds the pod may stay on a node with this NoExecute taint; None = forever."""
    best = -1.0
    for tol in (pod.get("spec") or {}).get("tolerations") or []:
        if tolerates(tol, taint):
            secs = tol.get("tolerationSeconds")
            if secs is None:
                return None
            best = max(best, float(secs))
    if best >= 0:
        return best
    return default_seconds if taint.get("key") in (UNREACHABLE, NOT_READY) else 0.0


class NodeLifecycleController(Controller):
    name = "node-lifecycle-controller"

    def __init__(
        self,
        *args: Any,
        grace_period: float = 40.0,
        eviction_timeout: float = 300.0,
        monitor_period: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.grace_period, self.eviction_timeout, self.monitor_period = (
            grace_period,
            eviction_timeout,
            monitor_period,
        )
        self.node_informer = self.informers.informer("nodes")
        self.lease_informer = self.informers.informer("leases")
        self.pod_informer = self.informers.informer("pods")
        # node -> (last renewTime seen, last Ready heartbeat seen, our clock when either changed)
        self.probes: dict[str, tuple[str | None, str | None, float]] = {}
        self.node_informer.add_handler(
            lambda n: self.enqueue(name_of(n)), lambda o, n: self.enqueue(name_of(n)), self._node_deleted
        )
        self.lease_informer.add_handler(self._lease, lambda o, n: self._lease(n), None)

    def _node_deleted(self, node: Obj) -> None:
        self.probes.pop(name_of(node), None)

    def _lease(self, lease: Obj) -> None:
        if namespace_of(lease) == LEASE_NAMESPACE:
            self.enqueue(name_of(lease))

    def _probe_time(self, node: Obj, now: float) -> float:
        """When we last saw a sign of life: a new lease renewTime or Ready heartbeat."""
        name = name_of(node)
        lease = self.lease_informer.get(name, LEASE_NAMESPACE)
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        beat = (condition(node, "Ready") or {}).get("lastHeartbeatTime")
        prev = self.probes.get(name)
        if prev is None or prev[0] != renew or prev[1] != beat:
            self.probes[name] = (renew, beat, now)
            return now
        return prev[2]

    def sync(self, key: str) -> float | None:
        _, name = split_key(key)
        node = self.node_informer.get(name)
        if node is None:
            return None
        now = self.clock()
        seen = self._probe_time(node, now)
        node = copy.deepcopy(node)
        if now - seen > self.grace_period:
            node = self._mark_unknown(node, now)
        node = self._sync_taints(node, now)
        next_eviction = self._evict(node, now)
        next_check = max(seen + self.grace_period - now, 0.0) + 0.01
        wait = min(x for x in (next_check, next_eviction, self.monitor_period) if x is not None)
        return max(wait, 0.01)

    def _mark_unknown(self, node: Obj, now: float) -> Obj:
        status = node.setdefault("status", {})
        conds = {c["type"]: c for c in status.get("conditions") or []}
        ready = conds.get("Ready")
        if ready is not None and ready.get("status") == "Unknown":
            return node
        t = now_rfc3339(now)
        if ready is None:
            conds["Ready"] = {
                "type": "Ready",
                "status": "Unknown",
                "reason": "NodeStatusNeverUpdated",
                "message": "Kubelet never posted node status.",
                "lastHeartbeatTime": None,
                "lastTransitionTime": t,
            }
        for type_ in CONDITIONS:
            c = conds.get(type_)
            if c is not None and c.get("status") != "Unknown" and not (type_ == "Ready" and ready is None):
                conds[type_] = {
                    **c,
                    "status": "Unknown",
                    "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastTransitionTime": t,
                }
        status["conditions"] = list(conds.values())
        node = self.client.update("nodes", node, subresource="status")
        self.recorder.event(node, NORMAL, "NodeNotReady", f"Node {name_of(node)} status is now: NodeNotReady")
        self._mark_pods_not_ready(name_of(node), t)
        return node

    def _mark_pods_not_ready(self, node_name: str, t: str) -> None:
        for pod in self.pod_informer.list():
            if (pod.get("spec") or {}).get("nodeName") != node_name or is_deleting(pod):
                continue
            conds = list((pod.get("status") or {}).get("conditions") or [])
            changed = False
            for i, c in enumerate(conds):
                if c.get("type") == "Ready" and c.get("status") != "False":
                    conds[i] = {**c, "status": "False", "lastTransitionTime": t}
                    changed = True
            if changed:
                try:
                    self.client.patch(
                        "pods",
                        name_of(pod),
                        {"status": {"conditions": conds}},
                        namespace_of(pod),
                        subresource="status",
                    )
                except Exception as exc:
                    if not (is_not_found(exc) or is_conflict(exc)):
                        raise

    def _sync_taints(self, node: Obj, now: float) -> Obj:
        ready = (condition(node, "Ready") or {}).get("status")
        key = {"False": NOT_READY, "Unknown": UNREACHABLE}.get(ready or "")
        spec = node.setdefault("spec", {})
        taints = list(spec.get("taints") or [])
        ours = [t for t in taints if t.get("key") in MANAGED_TAINTS]
        others = [t for t in taints if t.get("key") not in MANAGED_TAINTS]
        want = []
        if key is not None:
            for effect in ("NoSchedule", "NoExecute"):
                have = next((t for t in ours if t.get("key") == key and t.get("effect") == effect), None)
                want.append(have or {"key": key, "effect": effect, "timeAdded": now_rfc3339(now)})
        for ctype, pressure_key in PRESSURE_TAINTS.items():
            if (condition(node, ctype) or {}).get("status") == "True":
                want.append({"key": pressure_key, "effect": "NoSchedule"})
        if sorted(map(str, want)) == sorted(map(str, ours)):
            return node
        spec["taints"] = others + want
        if not spec["taints"]:
            del spec["taints"]
        return self.client.update("nodes", node)

    def _evict(self, node: Obj, now: float) -> float | None:
        """Delete pods whose toleration time ran out; return seconds until the next one."""
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
        if not taints:
            return None
        soonest: float | None = None
        for pod in self.pod_informer.list():
            if (pod.get("spec") or {}).get("nodeName") != name_of(node) or is_deleting(pod):
                continue
            deadline: float | None = None
            for t in taints:
                secs = tolerated_for(pod, t, self.eviction_timeout)
                if secs is None:
                    continue
                added = parse_time(t.get("timeAdded")) or now
                d = added + secs
                deadline = d if deadline is None else min(deadline, d)
            if deadline is None:
                continue
            if deadline <= now:
                try:
                    self.client.delete("pods", name_of(pod), namespace_of(pod))
                    self.recorder.event(
                        pod,
                        NORMAL,
                        "TaintManagerEviction",
                        f"Marking for deletion Pod {namespace_of(pod)}/{name_of(pod)}",
                    )
                except Exception as exc:
                    if not is_not_found(exc):
                        raise
            else:
                soonest = deadline - now if soonest is None else min(soonest, deadline - now)
        return soonest
