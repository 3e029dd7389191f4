"""rlimits: OCI process.rlimits -> setrlimit(2), applied in the container's init before execve.

    {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}

The soft limit is what the kernel enforces; the hard limit is how far the process
may raise the soft one itself. Lowering a hard limit cannot be undone without
CAP_SYS_RESOURCE, which is why the runtime sets these while still privileged.
"""

from __future__ import annotations

import resource
from typing import Any

from minikube_py.kernel.syscalls import Syscalls


class RlimitError(Exception):
    """An rlimit entry that cannot be applied; the message names the field."""


# RLIMIT_* names the resource module knows on this platform (all of Linux's 16).
TYPES: dict[str, int] = {n: getattr(resource, n) for n in dir(resource) if n.startswith("RLIMIT_")}
# OCI values are uint64; anything at or above 2**63 means "unlimited" (RLIM_INFINITY is all ones).
_INFINITE_FROM = 1 << 63


def _value(v: Any, field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v >= 1 << 64:
        raise RlimitError(f"{field}: {v!r} is not an unsigned 64-bit number")
    return resource.RLIM_INFINITY if v >= _INFINITE_FROM else v


def parse(rlimits: list[dict[str, Any]] | None) -> list[tuple[str, int, int, int]]:
    """Validate -> [(name, resource number, soft, hard)], or RlimitError naming the bad entry."""
    out = []
    seen = set()
    for i, entry in enumerate(rlimits or []):
        f = f"process.rlimits[{i}]"
        if not isinstance(entry, dict):
            raise RlimitError(f"{f}: must be an object")
        name = entry.get("type")
        if name not in TYPES:
            raise RlimitError(f"{f}.type: unknown rlimit {name!r}")
        if name in seen:
            raise RlimitError(f"{f}.type: {name} is given twice")
        seen.add(name)
        soft, hard = _value(entry.get("soft"), f"{f}.soft"), _value(entry.get("hard"), f"{f}.hard")
        infinite = resource.RLIM_INFINITY
        if hard != infinite and (soft == infinite or soft > hard):
            raise RlimitError(f"{f}.soft: {entry.get('soft')} is above the hard limit {entry.get('hard')}")
        out.append((name, TYPES[name], soft, hard))
    return out


def apply(rlimits: list[dict[str, Any]] | None, sys: Syscalls | None = None) -> None:
    """setrlimit(2) for each entry, after validating all of them."""
    entries = parse(rlimits)
    for name, number, soft, hard in entries:
        if sys is not None:
            sys.note("setrlimit", resource=name, soft=soft, hard=hard)
        try:
            resource.setrlimit(number, (soft, hard))
        except (ValueError, OSError) as exc:
            raise RlimitError(f"process.rlimits: setrlimit({name}, soft={soft}, hard={hard}) "
                              f"failed: {exc}") from exc
