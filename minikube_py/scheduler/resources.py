"""What a pod asks for and a node offers, in internal units (PodRequests, allocatable)."""

from __future__ import annotations

from typing import Any

from minikube_py.k8s.quantity import parse

Obj = dict[str, Any]

# What the scheduler assumes a container without requests uses, for *scoring* only
# (schedutil.DefaultMilliCPURequest / DefaultMemoryRequest), so empty pods still spread.
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 2**20


def to_internal(name: str, value: str | int | float, field: str = "") -> int:
    """cpu -> millicores; everything else -> whole units (bytes, pods, devices). Rounds up."""
    q = parse(value, field or name)
    if name == "cpu":
        q = q * 1000
    return int(-(-q // 1))


def container_requests(c: dict) -> dict[str, int]:
    res = c.get("resources") or {}
    # A limit without a request means request = limit (the API server's defaulting).
    merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
    return {k: to_internal(k, v, f"resources.requests[{k}]") for k, v in merged.items()}


_memo: dict[tuple[str, str, str], Any] = {}


def _memoized(kind: str, pod: Obj, compute):
    """A stored pod's requests only change with its resourceVersion: parse them once."""
    md = pod.get("metadata") or {}
    if not md.get("uid") or not md.get("resourceVersion"):
        return compute(pod)
    key = (kind, md["uid"], md["resourceVersion"])
    if key not in _memo:
        if len(_memo) > 50000:
            _memo.clear()
        _memo[key] = compute(pod)
    return _memo[key]


def pod_requests(pod: Obj) -> dict[str, int]:
    """Sum over containers, at least the largest init container, plus overhead (PodRequests)."""
    return dict(_memoized("req", pod, _pod_requests))


def _pod_requests(pod: Obj) -> dict[str, int]:
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for c in spec.get("containers") or []:
        for k, v in container_requests(c).items():
            total[k] = total.get(k, 0) + v
    for c in spec.get("initContainers") or []:
        for k, v in container_requests(c).items():
            total[k] = max(total.get(k, 0), v)
    for k, v in (spec.get("overhead") or {}).items():
        total[k] = total.get(k, 0) + to_internal(k, v)
    return total


def nonzero_requests(pod: Obj) -> tuple[int, int]:
    """(milli-cpu, memory) with the scoring defaults for containers that ask for nothing."""
    return _memoized("nonzero", pod, _nonzero_requests)


def _nonzero_requests(pod: Obj) -> tuple[int, int]:
    cpu = mem = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        r = container_requests(c)
        cpu += r.get("cpu") or DEFAULT_MILLI_CPU
        mem += r.get("memory") or DEFAULT_MEMORY
    return cpu, mem


def allocatable(node: Obj) -> dict[str, int]:
    st = node.get("status") or {}
    src = st.get("allocatable") or st.get("capacity") or {}
    return {k: to_internal(k, v, f"node {k}") for k, v in src.items()}
