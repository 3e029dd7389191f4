"""Probes: liveness (restart), readiness (Ready), startup (holds the other two).

Modelled on kubelet's prober: one worker per (container, probe kind), ticking every
periodSeconds. A worker
  * resets to its initial result when it sees a new container id
    (readiness: failure, liveness: success, startup: unknown);
  * waits initialDelaySeconds after the container started;
  * startup runs until it succeeds once; liveness/readiness wait for that;
  * changes its published result only after successThreshold / failureThreshold
    consecutive equal results;
  * after a liveness/startup failure it goes on hold until the container id changes
    (the kubelet restarts the container).
How a probe is carried out (exec in the container, HTTP GET, TCP connect) is the
`Executors` object's business, so tests inject fakes and the kubelet injects real ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

SUCCESS, FAILURE, UNKNOWN = "success", "failure", "unknown"
LIVENESS, READINESS, STARTUP = "Liveness", "Readiness", "Startup"
_SPEC_KEY = {LIVENESS: "livenessProbe", READINESS: "readinessProbe", STARTUP: "startupProbe"}
_INITIAL = {LIVENESS: SUCCESS, READINESS: FAILURE, STARTUP: UNKNOWN}


class Executors(Protocol):
    """Carry out one probe; return (SUCCESS|FAILURE|UNKNOWN, output text)."""

    def exec(self, container_id: str, argv: list[str], timeout: float) -> tuple[str, str]: ...
    def http_get(self, pod_uid: str, host: str, port: int, path: str, scheme: str,
                 headers: list[dict], timeout: float) -> tuple[str, str]: ...
    def tcp(self, pod_uid: str, host: str, port: int, timeout: float) -> tuple[str, str]: ...


@dataclass
class ContainerInfo:
    """What the prober needs to know about the current instance of a container."""
    container_id: str
    running: bool
    started_at: float = 0.0


@dataclass
class ProbeEvent:
    pod_uid: str
    container: str
    kind: str
    result: str
    output: str


def is_sidecar(container: dict) -> bool:
    """An init container with restartPolicy Always: a sidecar that runs beside the app containers."""
    return container.get("restartPolicy") == "Always"


def probed_containers(pod: dict) -> list[dict]:
    """App containers and sidecars: the containers that live long enough to be probed."""
    spec = pod["spec"]
    return [c for c in spec.get("initContainers") or [] if is_sidecar(c)] + list(spec.get("containers") or [])


def resolve_port(port: int | str, container: dict) -> int:
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"couldn't find port {port!r} in container {container.get('name')}")


def run_probe(ex: Executors, pod: dict, container: dict, container_id: str, spec: dict,
              pod_ip: str) -> tuple[str, str]:
    """One probe attempt through the executors (never raises)."""
    timeout = float(spec.get("timeoutSeconds", 1))
    uid = pod["metadata"].get("uid", "")
    try:
        if spec.get("exec"):
            return ex.exec(container_id, list(spec["exec"]["command"]), timeout)
        if spec.get("httpGet"):
            h = spec["httpGet"]
            return ex.http_get(uid, h.get("host") or pod_ip, resolve_port(h["port"], container),
                               h.get("path", "/"), h.get("scheme", "HTTP"), h.get("httpHeaders") or [],
                               timeout)
        if spec.get("tcpSocket"):
            t = spec["tcpSocket"]
            return ex.tcp(uid, t.get("host") or pod_ip, resolve_port(t["port"], container), timeout)
    except Exception as exc:  # noqa: BLE001 - a broken probe is an "unknown" result, never a crash
        return UNKNOWN, f"probe errored: {exc}"
    return UNKNOWN, "missing probe handler"


@dataclass
class _Worker:
    kind: str
    spec: dict
    container_id: str = ""
    result: str = UNKNOWN              # the published result
    last: str = UNKNOWN                # last raw result, for the threshold run
    run: int = 0
    on_hold: bool = False
    next_due: float = 0.0

    def reset(self, container_id: str) -> None:
        self.container_id = container_id
        self.result = _INITIAL[self.kind]
        self.last, self.run, self.on_hold, self.next_due = UNKNOWN, 0, False, 0.0


@dataclass
class _PodProbes:
    pod: dict
    workers: dict[tuple[str, str], _Worker] = field(default_factory=dict)   # (container, kind)


class ProbeManager:
    def __init__(self, executors: Executors, clock: Callable[[], float] = time.time) -> None:
        self.ex = executors
        self.clock = clock
        self._pods: dict[str, _PodProbes] = {}

    # -- registration --------------------------------------------------
    def add_pod(self, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        if uid in self._pods:
            self._pods[uid].pod = pod
            return
        pp = _PodProbes(pod)
        for c in probed_containers(pod):
            for kind, key in _SPEC_KEY.items():
                if c.get(key):
                    w = _Worker(kind, c[key])
                    w.reset("")
                    pp.workers[(c["name"], kind)] = w
        self._pods[uid] = pp

    def remove_pod(self, uid: str) -> None:
        self._pods.pop(uid, None)

    # -- results the kubelet reads ---------------------------------------
    def _worker(self, uid: str, name: str, kind: str) -> _Worker | None:
        pp = self._pods.get(uid)
        return pp.workers.get((name, kind)) if pp else None

    def started(self, uid: str, name: str, info: ContainerInfo | None) -> bool:
        """`started` of containerStatuses: running and (no startup probe or it succeeded)."""
        if info is None or not info.running:
            return False
        w = self._worker(uid, name, STARTUP)
        return w is None or (w.container_id == info.container_id and w.result == SUCCESS)

    def ready(self, uid: str, name: str, info: ContainerInfo | None) -> bool:
        """`ready`: started, and the readiness probe (if any) currently succeeds."""
        if not self.started(uid, name, info):
            return False
        w = self._worker(uid, name, READINESS)
        return w is None or (w.container_id == info.container_id and w.result == SUCCESS)

    def must_restart(self, uid: str, name: str, info: ContainerInfo | None) -> str:
        """"Liveness"/"Startup" when that probe has failed the running container, else ""."""
        if info is None or not info.running:
            return ""
        for kind in (STARTUP, LIVENESS):
            w = self._worker(uid, name, kind)
            if w and w.container_id == info.container_id and w.result == FAILURE:
                return kind
        return ""

    def next_due(self) -> float | None:
        dues = [w.next_due for pp in self._pods.values() for w in pp.workers.values() if not w.on_hold]
        return min(dues) if dues else None

    # -- the loop ----------------------------------------------------------
    def step(self, uid: str, infos: dict[str, ContainerInfo], pod_ip: str = "") -> list[ProbeEvent]:
        """Run every worker of this pod that is due; return the failures (for Unhealthy events)."""
        pp = self._pods.get(uid)
        if pp is None:
            return []
        now = self.clock()
        events: list[ProbeEvent] = []
        containers = {c["name"]: c for c in probed_containers(pp.pod)}
        for (name, kind), w in pp.workers.items():
            info = infos.get(name)
            if info is None or not info.running:
                # Readiness of a stopped container is failure; the others keep their value.
                if kind == READINESS:
                    w.result = FAILURE
                continue
            if info.container_id != w.container_id:
                w.reset(info.container_id)
            if w.on_hold or now < w.next_due:
                continue
            if now - info.started_at < int(w.spec.get("initialDelaySeconds", 0)):
                continue
            startup = pp.workers.get((name, STARTUP))
            startup_done = startup is None or (startup.container_id == info.container_id
                                               and startup.result == SUCCESS)
            if (kind == STARTUP) == startup_done:
                continue        # startup is over / the others wait for startup
            w.next_due = now + int(w.spec.get("periodSeconds", 10))
            result, output = run_probe(self.ex, pp.pod, containers[name], info.container_id, w.spec,
                                       pod_ip)
            if result != SUCCESS:
                events.append(ProbeEvent(uid, name, kind, result, output))
            if result == w.last:
                w.run += 1
            else:
                w.last, w.run = result, 1
            if result == UNKNOWN:
                continue
            threshold = int(w.spec.get("failureThreshold" if result == FAILURE else "successThreshold", 1))
            if w.run < threshold:
                continue
            w.result = result
            if kind in (LIVENESS, STARTUP) and result == FAILURE:
                w.on_hold, w.run = True, 0
        return events
