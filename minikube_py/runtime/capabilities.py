"""Capabilities: root's powers split into ~41 pieces, and the five sets a process carries.

    bounding     the most this process and its children can ever have again
    permitted    what it may switch on
    effective    what the kernel checks right now (e.g. CAP_SYS_ADMIN for mount(2))
    inheritable  what may pass through execve to programs with matching file capabilities
    ambient      what passes through execve to ordinary programs (must be permitted + inheritable)

The order matters, as in runc's init:
  1. drop from the bounding set first - dropping needs CAP_SETPCAP, which we still have;
  2. set "keep caps" across setuid: changing from uid 0 to another uid otherwise empties
     the permitted set, and nothing could be kept for a non-root container user;
  3. switch user; clear keep-caps;
  4. set effective/permitted/inheritable in one capset(2); then raise the ambient ones.

An unknown capability name is an error naming it (before anything changes). A known
name this kernel does not have (above /proc/sys/kernel/cap_last_cap) is skipped.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Iterable
from typing import Any

import prctl

from minikube_py.kernel.syscalls import Syscalls


class CapabilityError(Exception):
    """A capability name or set that cannot be applied; the message names it."""


# linux/capability.h
CAPABILITIES: dict[str, int] = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}
NAMES: dict[int, str] = {v: k for k, v in CAPABILITIES.items()}
SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")

# prctl(2) options python-prctl does not wrap
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def to_number(name: str, field: str = "capability") -> int:
    """"CAP_SYS_ADMIN" (or "sys_admin") -> 21."""
    key = name.upper() if isinstance(name, str) else ""
    if key and not key.startswith("CAP_"):
        key = "CAP_" + key
    if key not in CAPABILITIES:
        raise CapabilityError(f"{field}: unknown capability {name!r}")
    return CAPABILITIES[key]


def to_name(number: int) -> str:
    if number not in NAMES:
        raise CapabilityError(f"capability: no capability has number {number}")
    return NAMES[number]


def last_cap() -> int:
    """The highest capability this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return max(NAMES)


def parse(capabilities: dict[str, Any] | None, field: str = "process.capabilities") -> dict[str, set[int]]:
    """OCI process.capabilities -> {set name: {numbers}}, all five keys present. Validates everything."""
    capabilities = capabilities or {}
    unknown = sorted(set(capabilities) - set(SETS))
    if unknown:
        raise CapabilityError(f"{field}.{unknown[0]}: unknown capability set")
    out = {}
    for s in SETS:
        names = capabilities.get(s) or []
        if not isinstance(names, list):
            raise CapabilityError(f"{field}.{s}: must be a list of names")
        out[s] = {to_number(n, f"{field}.{s}[{i}]") for i, n in enumerate(names)}
    return out


def current() -> dict[str, set[int]]:
    """The calling process's five sets, read from /proc/self/status (CapBnd, CapEff, ...)."""
    keys = {"CapBnd": "bounding", "CapEff": "effective", "CapPrm": "permitted", "CapInh": "inheritable",
            "CapAmb": "ambient"}
    out: dict[str, set[int]] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                mask = int(value.strip(), 16)
                out[keys[key]] = {n for n in range(64) if mask >> n & 1}
    return out


def apply(bounding: Iterable[str], effective: Iterable[str], permitted: Iterable[str],
          inheritable: Iterable[str], ambient: Iterable[str], *,
          switch_user: Callable[[], None] | None = None, sys: Syscalls | None = None) -> list[str]:
    """Make the calling process's capability sets exactly these (names like "CAP_KILL").

    `switch_user`, if given, runs between the bounding drop and the capset (it does
    setgroups/setgid/setuid); keep-caps is on while it runs. Returns notes on skipped caps.
    """
    sets = parse({"bounding": list(bounding), "effective": list(effective), "permitted": list(permitted),
                  "inheritable": list(inheritable), "ambient": list(ambient)}, "capabilities")
    return apply_sets(sets, switch_user=switch_user, sys=sys)


def apply_oci(capabilities: dict[str, Any] | None, *, switch_user: Callable[[], None] | None = None,
              sys: Syscalls | None = None) -> list[str]:
    """apply() for an OCI process.capabilities object (missing sets are empty)."""
    return apply_sets(parse(capabilities), switch_user=switch_user, sys=sys)


def apply_sets(sets: dict[str, set[int]], *, switch_user: Callable[[], None] | None = None,
               sys: Syscalls | None = None) -> list[str]:
    sys = sys or Syscalls()
    top = last_cap()
    notes = [f"{NAMES.get(c, c)}: this kernel has no such capability (cap_last_cap={top}); skipped"
             for c in sorted(set().union(*sets.values())) if c > top]
    sets = {k: {c for c in v if c <= top} for k, v in sets.items()}
    stray = sets["ambient"] - (sets["permitted"] & sets["inheritable"])
    if stray:
        # checked before anything changes: the kernel would refuse these half-way through
        raise CapabilityError(f"process.capabilities.ambient: {NAMES[min(stray)]} must also be in "
                              "permitted and inheritable")
    all_caps = set(range(top + 1))

    # 1. bounding set, while CAP_SETPCAP is still effective
    dropped = sorted(c for c in all_caps - sets["bounding"] if prctl.capbset_read(c))
    if dropped:
        sys.note("prctl(PR_CAPBSET_DROP)", why="shrink the bounding set: these can never come back",
                 caps=",".join(NAMES.get(c, str(c)) for c in dropped))
        for c in dropped:
            prctl.capbset_drop(c)

    # 2-3. keep permitted caps across the uid change
    if switch_user is not None:
        prctl.set_keepcaps(True)
        sys.note("prctl(PR_SET_KEEPCAPS, 1)", why="keep permitted capabilities across setuid")
        switch_user()
        prctl.set_keepcaps(False)

    # 4. effective/permitted/inheritable in one capset(2)
    changes = []
    for s, flag in (("effective", prctl.CAP_EFFECTIVE), ("permitted", prctl.CAP_PERMITTED),
                    ("inheritable", prctl.CAP_INHERITABLE)):
        changes += [(sorted(sets[s]), flag, True), (sorted(all_caps - sets[s]), flag, False)]
    sys.note("capset", why="the container's effective, permitted and inheritable sets",
             **{s: ",".join(NAMES[c] for c in sorted(sets[s])) or "-" for s in ("effective", "permitted",
                                                                              "inheritable")})
    try:
        prctl.set_caps(*changes)
    except OSError as exc:
        # A process can only keep what it has: name what the runtime itself lacks.
        lacking = sorted(sets["permitted"] - current()["permitted"])
        hint = f" (this process does not have {', '.join(NAMES[c] for c in lacking)})" if lacking else ""
        raise CapabilityError(f"process.capabilities: capset failed: {exc.strerror}{hint}") from exc

    # ambient: cleared, then raised one by one (each must be permitted and inheritable)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    for c in sorted(sets["ambient"]):
        if libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0:
            err = ctypes.get_errno()
            raise CapabilityError(f"process.capabilities.ambient: cannot raise {NAMES[c]}: "
                                  f"{os.strerror(err)}")
    if sets["ambient"]:
        sys.note("prctl(PR_CAP_AMBIENT_RAISE)", caps=",".join(NAMES[c] for c in sorted(sets["ambient"])))
    return notes
