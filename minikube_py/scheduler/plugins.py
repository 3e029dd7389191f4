"""Filters and scores: why a node cannot take a pod, and which feasible node is best.

Each filter returns None (fits) or a Status(reasons, resolvable). The texts are
kube-scheduler's, because students will paste them into a search engine. Filters run in
kube-scheduler's default order and stop at the first failure, as RunFilterPlugins does.
`resolvable=False` (UnschedulableAndUnresolvable) means evicting pods would not help,
which decides the "preemption:" half of the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from minikube_py.k8s.selectors import node_requirement_matches
from minikube_py.k8s.tolerations import tolerates

from .resources import allocatable, nonzero_requests, pod_requests

Obj = dict[str, Any]
MAX_SCORE = 100
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


@dataclass
class Status:
    reasons: list[str]
    resolvable: bool = True  # False: UnschedulableAndUnresolvable


@dataclass
class NodeInfo:
    """A node and the pods already on it (bound or assumed), with their summed requests."""

    node: Obj
    pods: list[Obj] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.node["metadata"]["name"]

    def requested(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for p in self.pods:
            for k, v in pod_requests(p).items():
                total[k] = total.get(k, 0) + v
        return total

    def nonzero_requested(self) -> tuple[int, int]:
        cpu = mem = 0
        for p in self.pods:
            c, m = nonzero_requests(p)
            cpu, mem = cpu + c, mem + m
        return cpu, mem


# ---------------------------------------------------------------- tolerations
def untolerated(taints: list[dict], tolerations: list[dict], effects: tuple[str, ...]) -> dict | None:
    for t in taints:
        if t.get("effect") in effects and not any(tolerates(tol, t) for tol in tolerations):
            return t
    return None


# ---------------------------------------------------------------- filters
def node_unschedulable(pod: Obj, ni: NodeInfo) -> Status | None:
    if not (ni.node.get("spec") or {}).get("unschedulable"):
        return None
    taint = {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
    if any(tolerates(t, taint) for t in (pod.get("spec") or {}).get("tolerations") or []):
        return None
    return Status(["node(s) were unschedulable"], resolvable=False)


def taint_toleration(pod: Obj, ni: NodeInfo) -> Status | None:
    taint = untolerated(
        (ni.node.get("spec") or {}).get("taints") or [],
        (pod.get("spec") or {}).get("tolerations") or [],
        ("NoSchedule", "NoExecute"),
    )
    if taint is None:
        return None
    return Status(
        [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"],
        resolvable=False,
    )


def _term_matches(term: dict, node: Obj) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches no node
    fields_view = {"metadata.name": node["metadata"]["name"]}
    return all(node_requirement_matches(r, labels) for r in exprs) and all(
        node_requirement_matches(r, fields_view) for r in fields
    )


def node_affinity(pod: Obj, ni: NodeInfo) -> Status | None:
    """spec.nodeSelector AND requiredDuringScheduling terms (terms are ORed)."""
    spec = pod.get("spec") or {}
    labels = (ni.node.get("metadata") or {}).get("labels") or {}
    ok = all(labels.get(k) == v for k, v in (spec.get("nodeSelector") or {}).items())
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if ok and terms is not None:
        ok = any(_term_matches(t, ni.node) for t in terms)
    return None if ok else Status(["node(s) didn't match Pod's node affinity/selector"], resolvable=False)


def _host_ports(pod: Obj) -> set[tuple[str, str, int]]:
    out = set()
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.add((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(p["hostPort"])))
    return out


def node_ports(pod: Obj, ni: NodeInfo) -> Status | None:
    want = _host_ports(pod)
    if not want:
        return None
    used = set().union(*(_host_ports(p) for p in ni.pods)) if ni.pods else set()
    for ip, proto, port in want:
        for uip, uproto, uport in used:
            if proto == uproto and port == uport and (ip == uip or "0.0.0.0" in (ip, uip)):
                return Status(["node(s) didn't have free ports for the requested pod ports"])
    return None


def node_resources_fit(pod: Obj, ni: NodeInfo) -> Status | None:
    alloc = allocatable(ni.node)
    used = ni.requested()
    want = pod_requests(pod)
    reasons = []
    if len(ni.pods) + 1 > alloc.get("pods", 0):
        reasons.append("Too many pods")
    for name in ("cpu", "memory", "ephemeral-storage"):
        if want.get(name, 0) > 0 and want[name] > alloc.get(name, 0) - used.get(name, 0):
            reasons.append(f"Insufficient {name}")
    for name, amount in sorted(want.items()):
        if name in ("cpu", "memory", "ephemeral-storage", "pods") or amount == 0:
            continue
        if amount > alloc.get(name, 0) - used.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return Status(reasons) if reasons else None


FILTERS = [node_unschedulable, taint_toleration, node_affinity, node_ports, node_resources_fit]


def run_filters(pod: Obj, ni: NodeInfo) -> Status | None:
    for f in FILTERS:
        status = f(pod, ni)
        if status is not None:
            return status
    return None


# ---------------------------------------------------------------- scores
def least_allocated(pod: Obj, ni: NodeInfo) -> int:
    """NodeResourcesFit LeastAllocated: the emptier the node after placing the pod, the better."""
    alloc = allocatable(ni.node)
    cpu, mem = ni.nonzero_requested()
    pcpu, pmem = nonzero_requests(pod)
    scores = []
    for capacity, requested in ((alloc.get("cpu", 0), cpu + pcpu), (alloc.get("memory", 0), mem + pmem)):
        if capacity == 0 or requested > capacity:
            scores.append(0)
        else:
            scores.append((capacity - requested) * MAX_SCORE // capacity)
    return sum(scores) // len(scores)


def owner_uid(pod: Obj) -> str | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def spread_scores(pod: Obj, nodes: list[NodeInfo]) -> dict[str, int]:
    """Fewer pods of the same owner on a node scores higher (the idea of SelectorSpread)."""
    owner = owner_uid(pod)
    counts = {ni.name: (sum(1 for p in ni.pods if owner_uid(p) == owner) if owner else 0) for ni in nodes}
    most = max(counts.values(), default=0)
    if most == 0:
        return {n: MAX_SCORE for n in counts}
    return {n: MAX_SCORE * (most - c) // most for n, c in counts.items()}


def _normalize(raw: dict[str, int], reverse: bool = False) -> dict[str, int]:
    """helper.DefaultNormalizeScore: scale to 0..100 by the maximum; reverse = fewer is better."""
    most = max(raw.values(), default=0)
    if most == 0:
        return {n: MAX_SCORE if reverse else 0 for n in raw}
    return {
        n: (MAX_SCORE - MAX_SCORE * v // most) if reverse else MAX_SCORE * v // most for n, v in raw.items()
    }


def taint_scores(pod: Obj, nodes: list[NodeInfo]) -> dict[str, int]:
    """TaintToleration score: fewer PreferNoSchedule taints the pod does not tolerate is better."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    raw = {
        ni.name: sum(
            1
            for t in (ni.node.get("spec") or {}).get("taints") or []
            if t.get("effect") == "PreferNoSchedule" and not any(tolerates(tol, t) for tol in tolerations)
        )
        for ni in nodes
    }
    return _normalize(raw, reverse=True)


def preferred_affinity_scores(pod: Obj, nodes: list[NodeInfo]) -> dict[str, int]:
    """NodeAffinity score: the summed weights of the preferred terms a node matches."""
    preferred = (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "preferredDuringSchedulingIgnoredDuringExecution"
    ) or []
    raw = {
        ni.name: sum(
            int(p.get("weight") or 0) for p in preferred if _term_matches(p.get("preference") or {}, ni.node)
        )
        for ni in nodes
    }
    return _normalize(raw)


# (score function, weight): kube-scheduler's default weights for these plugins.
SCORES = [
    (lambda pod, nodes: {ni.name: least_allocated(pod, ni) for ni in nodes}, 1),  # NodeResourcesFit
    (spread_scores, 2),  # (Pod)TopologySpread
    (taint_scores, 3),  # TaintToleration
    (preferred_affinity_scores, 2),  # NodeAffinity
]


def score(pod: Obj, nodes: list[NodeInfo]) -> dict[str, int]:
    """Weighted sum of every score plugin, per feasible node."""
    total = {ni.name: 0 for ni in nodes}
    for fn, weight in SCORES:
        for name, value in fn(pod, nodes).items():
            total[name] += weight * value
    return total


# ---------------------------------------------------------------- the message
def fit_error(num_nodes: int, statuses: dict[str, Status]) -> str:
    """FitError.Error(), with the preemption PostFilter's diagnosis appended.

    `0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint {k: v}.
    preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod,
    2 Preemption is not helpful for scheduling.`
    Reasons are counted over nodes and the "count reason" strings sorted, as Kubernetes does."""
    if num_nodes == 0:
        return "no nodes available to schedule pods"

    def histogram(reasons_per_node: list[list[str]]) -> str:
        counts: dict[str, int] = {}
        for reasons in reasons_per_node:
            for r in reasons:
                counts[r] = counts.get(r, 0) + 1
        return ", ".join(sorted(f"{n} {r}" for r, n in counts.items()))

    msg = f"0/{num_nodes} nodes are available: {histogram([s.reasons for s in statuses.values()])}."
    # We do not preempt (no priorities): a node where evicting pods could help reports that
    # no victims were found, the others that preemption cannot help.
    post = [
        ["No preemption victims found for incoming pod"]
        if s.resolvable
        else ["Preemption is not helpful for scheduling"]
        for s in statuses.values()
    ]
    return msg + f" preemption: 0/{num_nodes} nodes are available: {histogram(post)}."
