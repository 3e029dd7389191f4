"""Pod status as kubelet computes it: phase, conditions, containerStatuses, events.

The input is the kubelet's own record of container *instances* (one per start
attempt: running or exited, exit code, OOM) plus the waiting reasons its sync
loop produced (CrashLoopBackOff, ImagePullBackOff, ...). The output is the
`status` object a `kubectl get pod -o yaml` shows, computed like kubelet's
generateAPIPodStatus/getPhase/convertToAPIContainerStatuses.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from minikube_py.k8s.meta import now_rfc3339
from minikube_py.k8s.pod import qos_class

RUNNING, EXITED, CREATED, UNKNOWN = "running", "exited", "created", "unknown"


def rfc3339(t: float | None) -> str | None:
    if t is None:
        return None
    return now_rfc3339(t)


@dataclass
class Instance:
    """One start attempt of a container, as the runtime reports it."""
    name: str
    container_id: str
    attempt: int
    image: str
    image_id: str = ""
    state: str = CREATED
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    signal: int | None = None
    message: str = ""           # termination message
    spec_hash: str = ""         # hash of the container spec it was made from

    def terminated_reason(self) -> str:
        if self.oom_killed:
            return "OOMKilled"
        return "Completed" if self.exit_code == 0 else "Error"

    def terminated(self, runtime: str = "mkpy") -> dict:
        t = {"exitCode": self.exit_code if self.exit_code is not None else -1,
             "reason": self.terminated_reason(),
             "startedAt": rfc3339(self.started_at), "finishedAt": rfc3339(self.finished_at),
             "containerID": f"{runtime}://{self.container_id}"}
        if self.signal:
            t["signal"] = self.signal
        if self.message:
            t["message"] = self.message
        return t


@dataclass
class PodRuntimeView:
    """Everything status computation needs besides the spec."""
    instances: dict[str, list[Instance]] = field(default_factory=dict)   # name -> newest first
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)    # name -> (reason, message)
    ready: Callable[[str, Instance], bool] = lambda name, inst: True
    started: Callable[[str, Instance], bool] = lambda name, inst: True
    pod_ips: list[str] = field(default_factory=list)
    host_ips: list[str] = field(default_factory=list)
    start_time: float | None = None
    terminal: bool = False       # the kubelet has finished with this pod (no more restarts)
    runtime: str = "mkpy"


def container_status(c: dict, view: PodRuntimeView, default_reason: str) -> dict:
    name = c["name"]
    insts = view.instances.get(name) or []
    latest = insts[0] if insts else None
    st: dict = {"name": name, "image": c.get("image", ""), "imageID": latest.image_id if latest else "",
                "ready": False, "restartCount": latest.attempt if latest else 0, "started": False,
                "state": {}, "lastState": {}}
    if latest:
        st["containerID"] = f"{view.runtime}://{latest.container_id}"
    waiting = view.waiting.get(name)
    if latest is None:
        reason, msg = waiting or (default_reason, "")
        st["state"] = {"waiting": _waiting(reason, msg)}
        return st
    if latest.state == RUNNING:
        st["state"] = {"running": {"startedAt": rfc3339(latest.started_at)}}
        st["started"] = view.started(name, latest)
        st["ready"] = st["started"] and view.ready(name, latest)
        previous = next((i for i in insts[1:] if i.state == EXITED), None)
        if previous:
            st["lastState"] = {"terminated": previous.terminated(view.runtime)}
    elif latest.state == EXITED:
        if waiting:
            # Exited and about to be restarted (or backing off): waiting, with the exit as lastState.
            st["state"] = {"waiting": _waiting(*waiting)}
            st["lastState"] = {"terminated": latest.terminated(view.runtime)}
        else:
            st["state"] = {"terminated": latest.terminated(view.runtime)}
            previous = next((i for i in insts[1:] if i.state == EXITED), None)
            if previous:
                st["lastState"] = {"terminated": previous.terminated(view.runtime)}
    else:
        reason, msg = waiting or ("ContainerCreating", "")
        st["state"] = {"waiting": _waiting(reason, msg)}
    return st


def _waiting(reason: str, message: str) -> dict:
    return {"reason": reason, "message": message} if message else {"reason": reason}


def _sidecars(pod: dict) -> set[str]:
    """Init containers with restartPolicy Always (sidecars): done once *started*, not exited."""
    return {c["name"] for c in pod["spec"].get("initContainers") or [] if c.get("restartPolicy") == "Always"}


def _init_finished(st: dict, sidecars: set[str]) -> bool:
    if st["name"] in sidecars:
        return bool(st.get("started"))
    return (st["state"].get("terminated") or {}).get("exitCode") == 0


def get_phase(pod: dict, init_statuses: list[dict], statuses: list[dict], terminal: bool) -> str:
    """kubelet's getPhase."""
    spec = pod["spec"]
    sidecars = _sidecars(pod)
    pending_init = failed_init = 0
    for st in init_statuses:
        s, last = st["state"], st.get("lastState") or {}
        if st["name"] in sidecars:
            pending_init += not st.get("started")      # a sidecar only has to be started
            continue
        if "running" in s:
            pending_init += 1
        elif "terminated" in s:
            failed_init += s["terminated"]["exitCode"] != 0
        elif "waiting" in s and "terminated" in last:
            failed_init += last["terminated"]["exitCode"] != 0
        else:
            pending_init += 1
    running = waiting = stopped = succeeded = unknown = 0
    any_started = False
    for st in statuses:
        s, last = st["state"], st.get("lastState") or {}
        if "running" in s:
            running += 1
            any_started = True
        elif "terminated" in s:
            stopped += 1
            succeeded += s["terminated"]["exitCode"] == 0
            any_started = True
        elif "waiting" in s and "terminated" in last:
            stopped += 1
            any_started = True
        elif "waiting" in s:
            waiting += 1
        else:
            unknown += 1
    if failed_init and spec.get("restartPolicy") == "Never":
        return "Failed"
    if (pending_init and not any_started) or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if terminal and not _is_static(pod):
            return "Succeeded" if stopped == succeeded else "Failed"
        if spec.get("restartPolicy") == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if spec.get("restartPolicy") == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _is_static(pod: dict) -> bool:
    return ((pod["metadata"].get("annotations") or {}).get("kubernetes.io/config.source", "api")) != "api"


def _condition(ctype: str, ok: bool, reason: str = "", message: str = "") -> dict:
    c = {"type": ctype, "status": "True" if ok else "False", "lastProbeTime": None}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def conditions(pod: dict, phase: str, init_statuses: list[dict], statuses: list[dict]) -> list[dict]:
    sidecars = _sidecars(pod)
    init_pending = [s["name"] for s in init_statuses if not _init_finished(s, sidecars)]
    if phase == "Succeeded" and not init_pending:
        initialized = _condition("Initialized", True, "PodCompleted")
    elif init_pending:
        initialized = _condition("Initialized", False, "ContainersNotInitialized",
                                 f"containers with incomplete status: [{' '.join(init_pending)}]")
    else:
        initialized = _condition("Initialized", True)
    unready = [s["name"] for s in statuses if not s["ready"]]
    if phase == "Succeeded":
        cready = _condition("ContainersReady", False, "PodCompleted")
        ready = _condition("Ready", False, "PodCompleted")
    elif unready:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        cready = _condition("ContainersReady", False, "ContainersNotReady", msg)
        ready = _condition("Ready", False, "ContainersNotReady", msg)
    else:
        cready, ready = _condition("ContainersReady", True), _condition("Ready", True)
    return [_condition("PodScheduled", True), initialized, cready, ready]


def pod_status(pod: dict, view: PodRuntimeView, previous: dict | None = None,
               now: float | None = None) -> dict:
    """The full `status` object. Transition times carry over from `previous` when unchanged."""
    now = time.time() if now is None else now
    spec = pod["spec"]
    # With init containers, kubelet's default waiting reason is PodInitializing for all of them.
    default = "PodInitializing" if spec.get("initContainers") else "ContainerCreating"
    init_statuses = [container_status(c, view, default) for c in spec.get("initContainers") or []]
    statuses = [container_status(c, view, default) for c in spec.get("containers") or []]
    sidecars = _sidecars(pod)
    for st in init_statuses:
        # An init container's `ready` means it finished successfully (a sidecar's: its readiness).
        if st["name"] not in sidecars:
            st["ready"] = (st["state"].get("terminated") or {}).get("exitCode") == 0
    phase = get_phase(pod, init_statuses, statuses, view.terminal)
    conds = conditions(pod, phase, init_statuses, statuses)
    old = {c["type"]: c for c in (previous or {}).get("conditions") or []}
    for c in conds:
        prev = old.get(c["type"])
        same = prev is not None and prev.get("status") == c["status"]
        c["lastTransitionTime"] = prev.get("lastTransitionTime") if same else rfc3339(now)
    status: dict = {"phase": phase, "conditions": conds, "qosClass": qos_class(pod.get("spec") or {})}
    if view.host_ips:
        status["hostIP"] = view.host_ips[0]
        status["hostIPs"] = [{"ip": ip} for ip in view.host_ips]
    if view.pod_ips:
        status["podIP"] = view.pod_ips[0]
        status["podIPs"] = [{"ip": ip} for ip in view.pod_ips]
    if view.start_time is not None:
        status["startTime"] = rfc3339(view.start_time)
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    return status


def evicted(status: dict, message: str, now: float) -> dict:
    """The status of a pod the eviction manager killed: Failed, reason Evicted, its message, and
    the DisruptionTarget condition (reason TerminationByKubelet) that says the kubelet ended it."""
    out = dict(status, phase="Failed", reason="Evicted", message=message)
    conds = [c for c in out.get("conditions") or [] if c["type"] != "DisruptionTarget"]
    before = next((c for c in status.get("conditions") or [] if c["type"] == "DisruptionTarget"), None)
    conds.append({"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                  "message": message, "lastProbeTime": None,
                  "lastTransitionTime": (before or {}).get("lastTransitionTime") or rfc3339(now)})
    out["conditions"] = conds
    return out


# ------------------------------------------------------------------ events
def container_field_path(pod: dict, name: str) -> str:
    for field_name in ("initContainers", "containers"):
        for c in pod["spec"].get(field_name) or []:
            if c["name"] == name:
                return f"spec.{field_name}{{{name}}}"
    return ""


def make_event(pod: dict, reason: str, message: str, *, type_: str = "Normal", container: str = "",
               node: str = "", now: float | None = None) -> dict:
    """A core/v1 Event about a pod (or one of its containers), as kubelet's recorder makes them."""
    now = time.time() if now is None else now
    meta = pod["metadata"]
    involved = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                "namespace": meta.get("namespace", "default"), "uid": meta.get("uid", "")}
    if container:
        involved["fieldPath"] = container_field_path(pod, container)
    suffix = hashlib.sha1(f"{meta.get('uid')}{reason}{message}{now}".encode()).hexdigest()[:16]
    ts = rfc3339(now)
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{suffix}", "namespace": involved["namespace"]},
            "involvedObject": involved, "reason": reason, "message": message, "type": type_,
            "source": {"component": "kubelet", "host": node}, "reportingComponent": "kubelet",
            "reportingInstance": node, "firstTimestamp": ts, "lastTimestamp": ts, "count": 1}


class EventRecorder:
    """Keeps recent events, folding repeats (same object, reason, message) into a count,
    and hands each new or updated event to `sink` (the API client, or nothing)."""

    def __init__(self, node: str = "", sink: Callable[[dict], None] | None = None,
                 clock: Callable[[], float] = time.time, keep: int = 1000) -> None:
        self.node, self.sink, self.clock, self.keep = node, sink, clock, keep
        self.events: list[dict] = []
        self._index: dict[tuple, dict] = {}

    def record(self, pod: dict, reason: str, message: str, type_: str = "Normal",
               container: str = "") -> dict:
        key = (pod["metadata"].get("uid"), container, reason, message)
        ev = self._index.get(key)
        if ev is not None:
            ev["count"] += 1
            ev["lastTimestamp"] = rfc3339(self.clock())
        else:
            ev = make_event(pod, reason, message, type_=type_, container=container, node=self.node,
                            now=self.clock())
            self._index[key] = ev
            self.events.append(ev)
            if len(self.events) > self.keep:
                old = self.events.pop(0)
                self._index = {k: v for k, v in self._index.items() if v is not old}
        if self.sink:
            self.sink(ev)
        return ev

    def for_pod(self, uid: str) -> list[dict]:
        return [e for e in self.events if e["involvedObject"]["uid"] == uid]
