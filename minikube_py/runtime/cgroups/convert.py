"""OCI `linux.resources` -> the cgroup files to write, for each driver. Pure functions, no I/O.

The OCI spec describes resources in cgroup-v1 terms (cpu *shares*, memory+swap
*totals*, blkio weights 10..1000). On cgroup v2 the knobs differ, so, as runc does,
we convert:

    cpu.shares 2..262144 (default 1024)   ->  cpu.weight 1..10000 (default 100)
    cpu quota + period (microseconds)     ->  cpu.max "QUOTA PERIOD" ("max" = no limit)
    memory.swap = memory + swap total     ->  memory.swap.max = swap - memory (swap only)
    memory.reservation                    ->  memory.low
    blockIO.weight 10..1000               ->  io.bfq.weight (same scale) or io.weight 1..10000

`plan_v1` / `plan_v2` validate the whole dict first and return the ordered list of
writes; the drivers perform them. So a bad value fails before anything is written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from minikube_py.runtime.cgroups.errors import CgroupError

PREFIX = "linux.resources"

# The OCI "unlimited" for memory/pids; on v2 written as "max".
UNLIMITED = -1

CPU_SHARES_MIN, CPU_SHARES_MAX = 2, 262144
CPU_WEIGHT_MIN, CPU_WEIGHT_MAX = 1, 10000
BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX = 10, 1000

_CPU_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_PAGE_SIZE = re.compile(r"^\d+[KMG]B$")
_UNIFIED_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_.]+$")


@dataclass(frozen=True)
class Write:
    """One value for one cgroup file, and the OCI field it came from (for error messages)."""

    controller: str            # v1: the hierarchy ("memory", "cpu", ...); v2: the controller to enable
    file: str                  # e.g. "memory.max"
    value: str
    field: str                 # e.g. "linux.resources.memory.limit"
    missing_ok: bool = False   # the kernel may lack this file; then skip silently
    fallback: Write | None = None  # if `file` does not exist, write this instead


# ------------------------------------------------------------------ conversions
def shares_to_weight(shares: int) -> int:
    """cgroup-v1 cpu.shares -> cgroup-v2 cpu.weight, as runc >= 1.3 and crun >= 1.23 do.

    A curve through three fixed points on a log scale: 2 -> 1, 1024 -> 100 (both
    defaults), 262144 -> 10000. The older linear formula `1 + (shares-2)*9999/262142`
    (still in many runc versions) maps the default 1024 to 39, so a container with
    default shares got less CPU than a process with the default weight next to it.
    """
    if shares <= CPU_SHARES_MIN:
        return CPU_WEIGHT_MIN
    if shares >= CPU_SHARES_MAX:
        return CPU_WEIGHT_MAX
    log2 = math.log2(shares)
    exponent = (log2 * log2 + 125 * log2) / 612.0 - 7.0 / 34.0
    # round first: 10**2.0000000000000004 must give 100, not 101
    return min(CPU_WEIGHT_MAX, max(CPU_WEIGHT_MIN, math.ceil(round(10**exponent, 6))))


def shares_to_weight_linear(shares: int) -> int:
    """The classic runc conversion (runc < 1.3, Kubernetes' own helpers): a straight line."""
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio weight 10..1000 -> io.weight 1..10000 (linear, as runc)."""
    return 1 + ((weight - BLKIO_WEIGHT_MIN) * 9999) // 990


def swap_to_v2(swap: int | None, memory: int | None, field: str) -> str | None:
    """OCI memory.swap is memory+swap together; v2 memory.swap.max counts swap alone.

    Returns the memory.swap.max value, or None when nothing should be written.
    """
    if swap is None or swap == 0:
        # No swap setting. If memory is unlimited, swap is unlimited too.
        return "max" if memory == UNLIMITED else None
    if swap == UNLIMITED:
        return "max"
    if swap < 0:
        raise CgroupError(f"{field}: invalid value {swap} (use -1 for unlimited)")
    if memory is None or memory in (0, UNLIMITED):
        raise CgroupError(f"{field}: a swap limit needs a memory limit ({PREFIX}.memory.limit)")
    if swap < memory:
        raise CgroupError(f"{field}: memory+swap ({swap}) must be >= memory limit ({memory})")
    return str(swap - memory)


def cpu_max(quota: int | None, period: int | None) -> str | None:
    """cpu.max is "QUOTA PERIOD" in microseconds; QUOTA "max" means no limit."""
    if not quota and not period:
        return None
    text = str(quota) if quota and quota > 0 else "max"
    if period:
        text += f" {period}"
    return text


# ------------------------------------------------------------------ validation helpers
def _section(resources: dict[str, Any], key: str, allowed: set[str]) -> dict[str, Any]:
    value = resources.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CgroupError(f"{PREFIX}.{key}: must be an object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise CgroupError(f"{PREFIX}.{key}.{unknown[0]}: unknown field")
    return value


def _int(section: dict[str, Any], key: str, field: str, *, minimum: int | None = None,
         maximum: int | None = None) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise CgroupError(f"{field}: must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise CgroupError(f"{field}: {value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise CgroupError(f"{field}: {value} is above the maximum {maximum}")
    return value


def _limit(section: dict[str, Any], key: str, field: str) -> int | None:
    """A byte or count limit: positive, or -1 for unlimited; 0/None means "not set"."""
    value = _int(section, key, field)
    if value is not None and value < UNLIMITED:
        raise CgroupError(f"{field}: invalid value {value} (use -1 for unlimited)")
    return value or None


def _limit_text(value: int) -> str:
    return "max" if value == UNLIMITED else str(value)


def _cpu_list(section: dict[str, Any], key: str, field: str) -> str | None:
    value = section.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CPU_LIST.match(value.replace(" ", "")):
        raise CgroupError(f"{field}: {value!r} is not a list like \"0-3,5\"")
    return value.replace(" ", "")


def _devices(entries: Any, field: str, value_key: str | None) -> list[tuple[str, str, dict[str, Any]]]:
    """Validate [{major, minor, <value_key>}] -> [("MAJ:MIN", field_i, entry)]."""
    if not isinstance(entries, list):
        raise CgroupError(f"{field}: must be a list")
    out = []
    for i, entry in enumerate(entries):
        f = f"{field}[{i}]"
        if not isinstance(entry, dict):
            raise CgroupError(f"{f}: must be an object")
        major = _int(entry, "major", f"{f}.major", minimum=0)
        minor = _int(entry, "minor", f"{f}.minor", minimum=0)
        if major is None or minor is None:
            raise CgroupError(f"{f}: needs both major and minor")
        if value_key and entry.get(value_key) is None:
            raise CgroupError(f"{f}.{value_key}: required")
        out.append((f"{major}:{minor}", f, entry))
    return out


_MEMORY_KEYS = {"limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
                "useHierarchy", "checkBeforeUpdate"}
_CPU_KEYS = {"shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems",
             "idle"}
_BLKIO_KEYS = {"weight", "leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
               "throttleReadIOPSDevice", "throttleWriteIOPSDevice"}
_THROTTLES = {  # OCI field -> (v2 io.max key, v1 file)
    "throttleReadBpsDevice": ("rbps", "blkio.throttle.read_bps_device"),
    "throttleWriteBpsDevice": ("wbps", "blkio.throttle.write_bps_device"),
    "throttleReadIOPSDevice": ("riops", "blkio.throttle.read_iops_device"),
    "throttleWriteIOPSDevice": ("wiops", "blkio.throttle.write_iops_device"),
}
_TOP_KEYS = {"memory", "cpu", "pids", "blockIO", "hugepageLimits", "unified", "devices", "network", "rdma"}


def _check_top(resources: dict[str, Any] | None) -> dict[str, Any]:
    if resources is None:
        return {}
    if not isinstance(resources, dict):
        raise CgroupError(f"{PREFIX}: must be an object, got {type(resources).__name__}")
    unknown = sorted(set(resources) - _TOP_KEYS)
    if unknown:
        raise CgroupError(f"{PREFIX}.{unknown[0]}: unknown field")
    for key in ("network", "rdma"):
        if resources.get(key):
            raise CgroupError(f"{PREFIX}.{key}: not supported by minikube_py")
    return resources


def _pids(resources: dict[str, Any]) -> list[Write]:
    pids = _section(resources, "pids", {"limit"})
    limit = _int(pids, "limit", f"{PREFIX}.pids.limit")
    if not limit:
        return []
    # Any negative limit means "no limit", as in runc.
    return [Write("pids", "pids.max", "max" if limit < 0 else str(limit), f"{PREFIX}.pids.limit")]


def _hugepages(resources: dict[str, Any], suffix: str) -> list[Write]:
    entries = resources.get("hugepageLimits") or []
    if not isinstance(entries, list):
        raise CgroupError(f"{PREFIX}.hugepageLimits: must be a list")
    writes = []
    for i, entry in enumerate(entries):
        f = f"{PREFIX}.hugepageLimits[{i}]"
        size = entry.get("pageSize") if isinstance(entry, dict) else None
        if not isinstance(size, str) or not _PAGE_SIZE.match(size):
            raise CgroupError(f"{f}.pageSize: {size!r} is not a size like \"2MB\"")
        limit = _int(entry, "limit", f"{f}.limit", minimum=0)
        if limit is None:
            raise CgroupError(f"{f}.limit: required")
        writes.append(Write("hugetlb", f"hugetlb.{size}.{suffix}", str(limit), f))
    return writes


def _blkio_weight(blkio: dict[str, Any], key: str) -> int | None:
    value = _int(blkio, key, f"{PREFIX}.blockIO.{key}")
    if value and not BLKIO_WEIGHT_MIN <= value <= BLKIO_WEIGHT_MAX:
        raise CgroupError(f"{PREFIX}.blockIO.{key}: {value} is outside "
                          f"{BLKIO_WEIGHT_MIN}..{BLKIO_WEIGHT_MAX}")
    return value or None


# ------------------------------------------------------------------ cgroup v2
def plan_v2(resources: dict[str, Any] | None) -> list[Write]:
    """The writes that give a cgroup-v2 directory these OCI resources, in order."""
    resources = _check_top(resources)
    writes: list[Write] = []
    m = f"{PREFIX}.memory"
    memory = _section(resources, "memory", _MEMORY_KEYS)
    limit = _limit(memory, "limit", f"{m}.limit")
    reservation = _limit(memory, "reservation", f"{m}.reservation")
    swap = _int(memory, "swap", f"{m}.swap")
    if memory.get("swappiness") not in (None, -1):
        raise CgroupError(f"{m}.swappiness: not supported on cgroup v2")
    if memory.get("disableOOMKiller"):
        raise CgroupError(f"{m}.disableOOMKiller: not supported on cgroup v2")
    # memory.kernel / kernelTCP are deprecated and have no v2 file: ignored, as runc does.
    swap_max = swap_to_v2(swap, limit, f"{m}.swap")
    if swap_max is not None:
        # Kernels without swap accounting have no memory.swap.max; "no swap"/"unlimited" is then true anyway.
        writes.append(Write("memory", "memory.swap.max", swap_max, f"{m}.swap",
                            missing_ok=swap_max in ("max", "0")))
    if limit:
        writes.append(Write("memory", "memory.max", _limit_text(limit), f"{m}.limit"))
    if reservation:
        writes.append(Write("memory", "memory.low", _limit_text(reservation), f"{m}.reservation"))

    c = f"{PREFIX}.cpu"
    cpu = _section(resources, "cpu", _CPU_KEYS)
    shares = _int(cpu, "shares", f"{c}.shares")
    if shares:
        if not CPU_SHARES_MIN <= shares <= CPU_SHARES_MAX:
            raise CgroupError(f"{c}.shares: {shares} is outside {CPU_SHARES_MIN}..{CPU_SHARES_MAX}")
        writes.append(Write("cpu", "cpu.weight", str(shares_to_weight(shares)), f"{c}.shares"))
    quota = _int(cpu, "quota", f"{c}.quota", minimum=-1)
    period = _int(cpu, "period", f"{c}.period", minimum=0)
    text = cpu_max(quota, period)
    if text:
        writes.append(Write("cpu", "cpu.max", text, f"{c}.quota" if quota else f"{c}.period"))
    burst = _int(cpu, "burst", f"{c}.burst", minimum=0)
    if burst is not None:
        writes.append(Write("cpu", "cpu.max.burst", str(burst), f"{c}.burst"))
    for key in ("realtimeRuntime", "realtimePeriod"):
        if _int(cpu, key, f"{c}.{key}"):
            raise CgroupError(f"{c}.{key}: real-time CPU limits are not supported on cgroup v2")
    idle = _int(cpu, "idle", f"{c}.idle", minimum=0, maximum=1)
    if idle is not None:
        writes.append(Write("cpu", "cpu.idle", str(idle), f"{c}.idle"))
    for key in ("cpus", "mems"):
        value = _cpu_list(cpu, key, f"{c}.{key}")
        if value:
            writes.append(Write("cpuset", f"cpuset.{key}", value, f"{c}.{key}"))

    writes += _pids(resources)

    b = f"{PREFIX}.blockIO"
    blkio = _section(resources, "blockIO", _BLKIO_KEYS)
    weight = _blkio_weight(blkio, "weight")
    if weight:
        # BFQ keeps the old 10..1000 scale; the generic io.weight uses 1..10000.
        writes.append(Write("io", "io.bfq.weight", str(weight), f"{b}.weight",
                            fallback=Write("io", "io.weight", str(blkio_weight_to_io_weight(weight)),
                                           f"{b}.weight")))
    for dev, f, entry in _devices(blkio.get("weightDevice") or [], f"{b}.weightDevice", None):
        w = _int(entry, "weight", f"{f}.weight", minimum=BLKIO_WEIGHT_MIN, maximum=BLKIO_WEIGHT_MAX)
        if w:
            writes.append(Write("io", "io.bfq.weight", f"{dev} {w}", f"{f}.weight",
                                fallback=Write("io", "io.weight", f"{dev} {blkio_weight_to_io_weight(w)}",
                                               f"{f}.weight")))
    for key, (io_key, _) in _THROTTLES.items():
        for dev, f, entry in _devices(blkio.get(key) or [], f"{b}.{key}", "rate"):
            rate = _int(entry, "rate", f"{f}.rate", minimum=0)
            writes.append(Write("io", "io.max", f"{dev} {io_key}={rate or 'max'}", f))

    writes += _hugepages(resources, "max")

    # `unified` is written last so it can override anything above, as in runc.
    unified = resources.get("unified") or {}
    if not isinstance(unified, dict):
        raise CgroupError(f"{PREFIX}.unified: must be a map of file name -> value")
    for key, value in unified.items():
        f = f"{PREFIX}.unified[{key!r}]"
        if not _UNIFIED_KEY.match(key) or (key.startswith("cgroup.") and
                                           key not in ("cgroup.max.depth", "cgroup.max.descendants")):
            raise CgroupError(f"{f}: not a resource file name (like \"memory.high\")")
        if not isinstance(value, str):
            raise CgroupError(f"{f}: value must be a string, got {value!r}")
        writes.append(Write(key.split(".", 1)[0], key, value, f))
    _devices_rules(resources)  # validated here; v2 enforces them with an eBPF program (devices.py)
    return writes


# ------------------------------------------------------------------ cgroup v1
def plan_v1(resources: dict[str, Any] | None, current_memory_limit: int | None = None) -> list[Write]:
    """The writes that give a set of cgroup-v1 directories these OCI resources, in order.

    `current_memory_limit` (bytes, None = unlimited) decides the order of the two memory
    files: memory.memsw.limit_in_bytes (memory+swap) may never be below memory.limit_in_bytes,
    so when the limit grows the total must grow first, and when it shrinks, second.
    """
    resources = _check_top(resources)
    if resources.get("unified"):
        raise CgroupError(f"{PREFIX}.unified: needs cgroup v2 (this host runs cgroup v1)")
    writes: list[Write] = []
    m = f"{PREFIX}.memory"
    memory = _section(resources, "memory", _MEMORY_KEYS)
    limit = _limit(memory, "limit", f"{m}.limit")
    reservation = _limit(memory, "reservation", f"{m}.reservation")
    swap = _limit(memory, "swap", f"{m}.swap")
    if swap and swap != UNLIMITED and limit and limit != UNLIMITED and swap < limit:
        raise CgroupError(f"{m}.swap: memory+swap ({swap}) must be >= memory limit ({limit})")
    if swap and swap != UNLIMITED and limit in (None, UNLIMITED):
        raise CgroupError(f"{m}.swap: a swap limit needs a memory limit ({m}.limit)")
    mem_w = Write("memory", "memory.limit_in_bytes", str(limit), f"{m}.limit") if limit else None
    # With unlimited memory, memory+swap becomes unlimited too (as runc does).
    if swap is None and limit == UNLIMITED:
        swap = UNLIMITED
    swap_w = (Write("memory", "memory.memsw.limit_in_bytes", str(swap), f"{m}.swap",
                    missing_ok=swap == UNLIMITED) if swap else None)
    growing = limit is not None and (limit == UNLIMITED or (current_memory_limit is not None and
                                                            limit > current_memory_limit))
    writes += [w for w in ((swap_w, mem_w) if growing else (mem_w, swap_w)) if w]
    if reservation:
        writes.append(Write("memory", "memory.soft_limit_in_bytes", str(reservation), f"{m}.reservation"))
    swappiness = _int(memory, "swappiness", f"{m}.swappiness", minimum=-1, maximum=100)
    if swappiness is not None and swappiness >= 0:
        writes.append(Write("memory", "memory.swappiness", str(swappiness), f"{m}.swappiness"))
    if memory.get("disableOOMKiller"):
        writes.append(Write("memory", "memory.oom_control", "1", f"{m}.disableOOMKiller"))

    c = f"{PREFIX}.cpu"
    cpu = _section(resources, "cpu", _CPU_KEYS)
    shares = _int(cpu, "shares", f"{c}.shares")
    if shares:
        if not CPU_SHARES_MIN <= shares <= CPU_SHARES_MAX:
            raise CgroupError(f"{c}.shares: {shares} is outside {CPU_SHARES_MIN}..{CPU_SHARES_MAX}")
        writes.append(Write("cpu", "cpu.shares", str(shares), f"{c}.shares"))
    quota = _int(cpu, "quota", f"{c}.quota", minimum=-1)
    period = _int(cpu, "period", f"{c}.period", minimum=0)
    # Period first: the kernel checks the quota against the period in force.
    if period:
        writes.append(Write("cpu", "cpu.cfs_period_us", str(period), f"{c}.period"))
    if quota:
        writes.append(Write("cpu", "cpu.cfs_quota_us", str(quota), f"{c}.quota"))
    burst = _int(cpu, "burst", f"{c}.burst", minimum=0)
    if burst is not None:
        writes.append(Write("cpu", "cpu.cfs_burst_us", str(burst), f"{c}.burst"))
    for key, file in (("realtimePeriod", "cpu.rt_period_us"), ("realtimeRuntime", "cpu.rt_runtime_us")):
        value = _int(cpu, key, f"{c}.{key}")
        if value:
            writes.append(Write("cpu", file, str(value), f"{c}.{key}"))
    idle = _int(cpu, "idle", f"{c}.idle", minimum=0, maximum=1)
    if idle is not None:
        writes.append(Write("cpu", "cpu.idle", str(idle), f"{c}.idle"))
    for key in ("cpus", "mems"):
        value = _cpu_list(cpu, key, f"{c}.{key}")
        if value:
            writes.append(Write("cpuset", f"cpuset.{key}", value, f"{c}.{key}"))

    writes += _pids(resources)

    b = f"{PREFIX}.blockIO"
    blkio = _section(resources, "blockIO", _BLKIO_KEYS)
    for key, file in (("weight", "blkio.weight"), ("leafWeight", "blkio.leaf_weight")):
        weight = _blkio_weight(blkio, key)
        if weight:
            writes.append(Write("blkio", file, str(weight), f"{b}.{key}",
                                fallback=Write("blkio", file.replace("blkio.", "blkio.bfq."), str(weight),
                                               f"{b}.{key}")))
    for dev, f, entry in _devices(blkio.get("weightDevice") or [], f"{b}.weightDevice", None):
        w = _int(entry, "weight", f"{f}.weight", minimum=BLKIO_WEIGHT_MIN, maximum=BLKIO_WEIGHT_MAX)
        if w:
            writes.append(Write("blkio", "blkio.weight_device", f"{dev} {w}", f"{f}.weight",
                                fallback=Write("blkio", "blkio.bfq.weight_device", f"{dev} {w}",
                                               f"{f}.weight")))
    for key, (_, file) in _THROTTLES.items():
        for dev, f, entry in _devices(blkio.get(key) or [], f"{b}.{key}", "rate"):
            rate = _int(entry, "rate", f"{f}.rate", minimum=0)
            writes.append(Write("blkio", file, f"{dev} {rate}", f))

    writes += _hugepages(resources, "limit_in_bytes")
    for rule, f in _devices_rules(resources):
        writes.append(Write("devices", "devices.allow" if rule[0] else "devices.deny", rule[1], f))
    return writes


def _devices_rules(resources: dict[str, Any]) -> list[tuple[tuple[bool, str], str]]:
    """OCI device cgroup rules -> [((allow, "c 1:3 rwm"), field)], validated."""
    rules = resources.get("devices") or []
    if not isinstance(rules, list):
        raise CgroupError(f"{PREFIX}.devices: must be a list")
    out = []
    for i, rule in enumerate(rules):
        f = f"{PREFIX}.devices[{i}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("allow"), bool):
            raise CgroupError(f"{f}.allow: required (true or false)")
        kind = rule.get("type") or "a"
        if kind not in ("a", "b", "c"):
            raise CgroupError(f"{f}.type: {kind!r} is not one of a, b, c")
        access = rule.get("access") or "rwm"
        if not isinstance(access, str) or not set(access) <= set("rwm"):
            raise CgroupError(f"{f}.access: {access!r} is not a combination of r, w, m")
        major = _int(rule, "major", f"{f}.major", minimum=-1)
        minor = _int(rule, "minor", f"{f}.minor", minimum=-1)
        star = lambda n: "*" if n is None or n < 0 else str(n)  # noqa: E731
        text = f"{kind} {star(major)}:{star(minor)} {access}"
        out.append(((rule["allow"], text), f))
    return out
