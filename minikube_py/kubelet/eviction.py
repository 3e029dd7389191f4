"""Node pressure: kubelet's eviction signals, thresholds, and the conditions they set on the Node.

kubelet's eviction manager (pkg/kubelet/eviction) measures a few *signals* and compares each with a
*threshold* (`--eviction-hard`, default below). A threshold that is met puts the node under
pressure, which the Node shows as a condition:

    memory.available                 -> MemoryPressure   (memory the node can still give out)
    nodefs.available, nodefs.inodesFree,
    imagefs.available, imagefs.inodesFree -> DiskPressure (the kubelet's and the images' filesystems)
    pid.available                    -> PIDPressure      (process ids left; no default threshold)

A condition, once true, stays true until `--eviction-pressure-transition-period` (5 min) has
passed without the threshold being met, so a node hovering at the line does not flap. The node
lifecycle controller turns the true conditions into NoSchedule taints
(node.kubernetes.io/memory-pressure, ...; minikube_py/controllers/nodelifecycle.py), which keep new
pods off the node.

While a threshold is met the kubelet also *evicts*: every monitoring period (10 s) it ranks the
pods by what they use of the scarce resource (`rank`) and kills the first one at once (a hard
threshold has no grace period). The pod ends Failed with reason `Evicted` and a message saying
which resource ran low and who used it (`eviction_message`); its controller makes a new one,
which the taint sends to another node. Static and mirror pods and system-critical ones are
never evicted (`is_critical`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from minikube_py.k8s import quantity

# pkg/kubelet/eviction/defaults_linux.go
DEFAULT_EVICTION_HARD = {
    "memory.available": "100Mi",
    "nodefs.available": "10%",
    "nodefs.inodesFree": "5%",
    "imagefs.available": "15%",
    "imagefs.inodesFree": "5%",
}
DEFAULT_TRANSITION_PERIOD = 300.0

SIGNAL_CONDITION = {
    "memory.available": "MemoryPressure",
    "nodefs.available": "DiskPressure",
    "nodefs.inodesFree": "DiskPressure",
    "imagefs.available": "DiskPressure",
    "imagefs.inodesFree": "DiskPressure",
    "pid.available": "PIDPressure",
}

# What the Node says, as kubelet's setters.go words it: (status, reason, message).
CONDITION_TEXT = {
    ("MemoryPressure", True): ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
    ("MemoryPressure", False): ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", True): ("KubeletHasDiskPressure", "kubelet has disk pressure"),
    ("DiskPressure", False): ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", True): ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
    ("PIDPressure", False): ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
}
CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")


# What each signal is short of, as kubelet's messages name it.
SIGNAL_RESOURCE = {
    "memory.available": "memory",
    "nodefs.available": "ephemeral-storage",
    "nodefs.inodesFree": "inodes",
    "imagefs.available": "ephemeral-storage",
    "imagefs.inodesFree": "inodes",
    "pid.available": "pids",
}
# The order in which met signals are acted on: memory first, as kubelet does.
SIGNAL_ORDER = ("memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available",
                "imagefs.inodesFree", "pid.available")
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000  # scheduling.SystemCriticalPriority


class EvictionError(ValueError):
    """A threshold that does not parse (the message names it)."""


@dataclass(frozen=True)
class Threshold:
    signal: str
    quantity: int | None = None      # an absolute amount (bytes, inodes, pids) ...
    percentage: float | None = None  # ... or a fraction of the capacity

    def value(self, capacity: int) -> float:
        return self.quantity if self.quantity is not None else capacity * (self.percentage or 0.0)


def split_flag(text: str) -> dict[str, str]:
    """kubelet's flag form `memory.available<100Mi,nodefs.available<10%` -> {signal: value}
    (validated; an empty string means no thresholds)."""
    pairs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        signal, sep, value = part.partition("<")
        if not sep:
            raise EvictionError(f"eviction threshold {part!r}: expected SIGNAL<VALUE (only < exists)")
        pairs[signal.strip()] = value.strip()
    parse_thresholds(pairs)
    return pairs


def parse_thresholds(spec: dict[str, str]) -> dict[str, Threshold]:
    """{"memory.available": "100Mi", "nodefs.available": "10%"} -> Thresholds."""
    out = {}
    for signal, value in spec.items():
        if signal not in SIGNAL_CONDITION:
            raise EvictionError(
                f"eviction threshold {signal!r}: unknown signal; one of {', '.join(SIGNAL_CONDITION)}")
        value = str(value).strip()
        try:
            if value.endswith("%"):
                pct = float(value[:-1]) / 100
                if not 0 <= pct <= 1:
                    raise ValueError
                out[signal] = Threshold(signal, percentage=pct)
            else:
                out[signal] = Threshold(signal, quantity=quantity.value(value))
        except ValueError:  # QuantityError is one
            raise EvictionError(f"eviction threshold {signal}: invalid value {value!r}") from None
    return out


@dataclass
class Observation:
    """One signal measured: how much is left of how much."""

    available: int
    capacity: int


def _fs(path: str) -> tuple[Observation, Observation]:
    st = os.statvfs(path)
    # Available to unprivileged users (f_bavail), as kubelet's cadvisor reports it.
    return (Observation(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize),
            Observation(st.f_favail, st.f_files))


def _pids() -> Observation:
    """pid.available = the most pids the kernel hands out - the tasks (threads too) running now."""
    with open("/proc/sys/kernel/pid_max") as f:
        limit = int(f.read())
    with open("/proc/sys/kernel/threads-max") as f:
        limit = min(limit, int(f.read()))
    with open("/proc/loadavg") as f:  # "0.1 0.2 0.3 RUNNING/TOTAL LASTPID"
        tasks = int(f.read().split()[3].split("/")[1])
    return Observation(limit - tasks, limit)


def observe(nodefs: str, imagefs: str) -> dict[str, Observation]:
    """Measure every signal on this machine: memory (MemAvailable), the filesystems holding the
    kubelet's root (nodefs) and the image store (imagefs), and pids."""
    import psutil

    vm = psutil.virtual_memory()
    node_bytes, node_inodes = _fs(nodefs)
    image_bytes, image_inodes = _fs(imagefs) if os.path.exists(imagefs) else (node_bytes, node_inodes)
    return {
        "memory.available": Observation(vm.available, vm.total),
        "nodefs.available": node_bytes, "nodefs.inodesFree": node_inodes,
        "imagefs.available": image_bytes, "imagefs.inodesFree": image_inodes,
        "pid.available": _pids(),
    }


def thresholds_met(thresholds: dict[str, Threshold], observed: dict[str, Observation]) -> set[str]:
    """The signals whose availability is below their threshold."""
    met = set()
    for signal, t in thresholds.items():
        obs = observed.get(signal)
        if obs is not None and obs.capacity > 0 and obs.available < t.value(obs.capacity):
            met.add(signal)
    return met


class PressureMonitor:
    """Turns observations into the three pressure conditions, holding a true one for the
    transition period after its threshold was last met (kubelet's nodeConditionsLastObservedAt)."""

    def __init__(self, thresholds: dict[str, Threshold] | None = None,
                 observe_fn: Callable[[], dict[str, Observation]] | None = None,
                 transition_period: float = DEFAULT_TRANSITION_PERIOD,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.thresholds = parse_thresholds(DEFAULT_EVICTION_HARD) if thresholds is None else thresholds
        self.observe_fn = observe_fn or (lambda: observe("/", "/"))
        self.transition_period = transition_period
        self.clock = clock
        self.last_met: dict[str, float] = {}   # condition -> when a threshold for it was last met
        self.met: set[str] = set()              # the signals met at the last check
        self.observed: dict[str, Observation] = {}  # what the last check measured
        self._lock = threading.Lock()  # the node status reporter and the eviction manager both ask

    def check(self) -> dict[str, bool]:
        """Measure now; {condition: under pressure?}."""
        observed = self.observe_fn()
        with self._lock:
            now = self.clock()
            self.observed = observed
            self.met = thresholds_met(self.thresholds, observed)
            for signal in self.met:
                self.last_met[SIGNAL_CONDITION[signal]] = now
            now_met = {SIGNAL_CONDITION[s] for s in self.met}
            held = {c for c, t in self.last_met.items() if now - t < self.transition_period}
            return {c: c in now_met or c in held for c in CONDITIONS}


def condition(ctype: str, pressure: bool, now: str, transition: str | None = None) -> dict:
    reason, message = CONDITION_TEXT[(ctype, pressure)]
    return {"type": ctype, "status": "True" if pressure else "False", "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": transition or now}


# ------------------------------------------------------------------ choosing a pod to evict
@dataclass
class ContainerUsage:
    name: str
    usage: int     # of the resource under pressure: bytes, inodes or pids
    request: int   # what the container asked for of it (0: nothing)


@dataclass
class PodUsage:
    pod: dict
    containers: list[ContainerUsage]
    usage: int = 0    # the whole pod's, which may be more than its containers' (emptyDir, logs)

    @property
    def request(self) -> int:
        return sum(c.request for c in self.containers)

    @property
    def priority(self) -> int:
        p = (self.pod.get("spec") or {}).get("priority")
        return p if isinstance(p, int) else 0


def is_critical(pod: dict) -> bool:
    """kubelet never evicts these (kubelettypes.IsCriticalPod): static and mirror pods, and pods
    of system-critical priority."""
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    if ann.get("kubernetes.io/config.source", "api") != "api" or "kubernetes.io/config.mirror" in ann:
        return True
    p = (pod.get("spec") or {}).get("priority")
    return isinstance(p, int) and p >= SYSTEM_CRITICAL_PRIORITY


def rank(pods: list[PodUsage]) -> list[PodUsage]:
    """kubelet's eviction order (rankMemoryPressure and friends): pods using more than they
    requested first, then lower priority first, then the biggest use above the request first.
    So a BestEffort pod (requests nothing) that uses anything goes before a Burstable one within
    its requests, and a Guaranteed pod is last."""
    return sorted(pods, key=lambda p: (not p.usage > p.request, p.priority, -(p.usage - p.request)))


def disk_usage(path: str, inodes: bool = False) -> int:
    """Bytes (or files) under path, as `du` counts them; 0 if it is gone."""
    total = 0
    for top, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            total += 1 if inodes else st.st_blocks * 512
    return total


def _amount(resource: str, n: int | float) -> str:
    # kubelet prints quantities: bytes in Ki (e.g. "91644Ki"), counts as they are.
    if resource in ("memory", "ephemeral-storage"):
        return f"{int(n) // 1024}Ki" if n >= 1024 else str(int(n))
    return str(int(n))


def eviction_message(signal: str, threshold: Threshold, observed: Observation, victim: PodUsage) -> str:
    """The pod's status.message and the Evicted event's, worded as kubelet's eviction helpers
    (nodeLowMessageFmt, thresholdMetMessageFmt, containerMessageFmt) word them."""
    resource = SIGNAL_RESOURCE[signal]
    if threshold.quantity is not None and resource in ("memory", "ephemeral-storage"):
        want = quantity.format_bytes(threshold.quantity)  # as it was given: "100Mi"
    else:
        want = _amount(resource, threshold.value(observed.capacity))
    text = (f"The node was low on resource: {resource}. Threshold quantity: {want}, "
            f"available: {_amount(resource, observed.available)}. ")
    for c in victim.containers:
        if c.usage > c.request:
            text += (f"Container {c.name} was using {_amount(resource, c.usage)}, request is "
                     f"{_amount(resource, c.request)}, has larger consumption of {resource}. ")
    return text
