"""Resource quantities and what a pod asks for (resource.Quantity, PodRequests)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

Obj = dict[str, Any]

_SUFFIX = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_QTY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$")

# What the scheduler assumes a container without requests uses, for *scoring* only
# (schedutil.DefaultMilliCPURequest / DefaultMemoryRequest), so empty pods still spread.
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 2**20


class QuantityError(ValueError):
    """A resource quantity that does not parse (e.g. '12 GB')."""


def parse_quantity(value: str | int | float, field: str = "quantity") -> Decimal:
    if isinstance(value, bool):
        raise QuantityError(f"{field}: not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    m = _QTY.match(str(value).strip())
    if m is None:
        raise QuantityError(f"{field}: not a quantity: {value!r}")
    number, exp, suffix = m.groups()
    if exp:
        return Decimal(number) * (Decimal(10) ** int(exp[1:]))
    return Decimal(number) * _SUFFIX[suffix or ""]


def to_internal(name: str, value: str | int | float, field: str = "") -> int:
    """cpu -> millicores; everything else -> whole units (bytes, pods, devices). Rounds up."""
    q = parse_quantity(value, field or name)
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
