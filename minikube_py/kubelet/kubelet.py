"""The kubelet: make the containers on this node match the pods meant for it. Forever.

The loop (`Kubelet.run` -> `_tick`), as in Kubernetes:
  1. desired state   sources: static manifests (and the API server's pods for this node)
  2. actual state    relist the runtime (PLEG): every container, grouped by pod uid from its
                     io.kubernetes.* annotations; an exited container's exit.json (written by
                     its monitor) gives the exit code, times and OOM kill
  3. pod workers     `sync_pod(uid)` for pods whose state changed or whose timer is due
                     (a back-off ending, a probe verdict, a periodic resync), one at a time
                     per pod, several pods in parallel
  4. status          computed from 1+2 and the workers' waiting reasons, written to
                     <root>/pods/<uid>/status.json (and to the API server when there is one)
sync_pod walks a pod through: pod cgroup -> volumes -> sandbox (netns + infra) -> init
containers, one by one -> app containers, restarting per restartPolicy with back-off, and
killing a container its liveness probe condemned. A removed pod is torn down: preStop,
SIGTERM, grace period, SIGKILL, then the sandbox, network, volumes and cgroups.

Everything it needs survives a restart: containers keep running under their monitors, their
annotations say which pod and which attempt they are, and <root>/pods/<uid>/pod.json keeps
the sandbox and back-off records; a new kubelet re-adopts them without restarting anything.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from minikube_py.k8s import quantity
from minikube_py.k8s.pod import containers_of
from minikube_py.kubelet import command, eviction, ociconfig, pullpolicy, qos, sandbox, status, volumes
from minikube_py.kubelet.backoff import Backoff, format_duration
from minikube_py.kubelet.command import ContainerConfigError, DictObjects, EnvContext, ObjectSource
from minikube_py.kubelet.cri import ImageService, RuntimeError_, RuntimeService
from minikube_py.kubelet.probe_executors import KubeletProbeExecutors
from minikube_py.kubelet.prober import ContainerInfo, ProbeManager, is_sidecar
from minikube_py.kubelet.restart import LastRun, should_restart
from minikube_py.kubelet.sandbox import SandboxRecord
from minikube_py.kubelet.sources import StaticPodSource
from minikube_py.kubelet.status import EXITED, RUNNING, EventRecorder, Instance, PodRuntimeView

log = logging.getLogger("mkpy.kubelet")

RESYNC = 10.0          # a healthy pod is looked at again at least this often
PENDING_RESYNC = 1.0   # a pod that is still coming up


@dataclass
class KubeletConfig:
    root: str                                  # kubelet state: <root>/pods/<uid>/...
    runtime_root: str                          # the runtime's state dir
    image_root: str                            # the image store's root
    log_root: str = ociconfig.LOG_ROOT
    pod_manifest_path: str | None = None
    node_name: str = field(default_factory=lambda: socket.gethostname().lower())
    netns_dir: str = "/run/netns"
    netns_prefix: str = "mkpy-pod-"
    node_network: Any = None                   # a minikube_py.network.NodeNetwork, or None: lo only
    cluster_dns: list[str] = field(default_factory=list)
    infra_image: str = "busybox:latest"
    infra_argv: list[str] = field(default_factory=lambda: ["/bin/sleep", "2147483647"])
    pod_pids_limit: int | None = 1024
    sync_period: float = 0.5
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    host_ips: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    memory_capacity: int = 0                   # 0: from psutil
    # --eviction-hard: signal -> threshold ("100Mi" or "10%"), what puts the node under pressure
    eviction_hard: dict[str, str] = field(default_factory=lambda: dict(eviction.DEFAULT_EVICTION_HARD))
    eviction_pressure_transition_period: float = eviction.DEFAULT_TRANSITION_PERIOD
    eviction_monitoring_interval: float = 10.0  # kubelet's evictionMonitoringPeriod


@dataclass
class PodRecord:
    pod: dict
    sandbox: SandboxRecord = field(default_factory=SandboxRecord)
    start_time: float | None = None
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)
    status: dict = field(default_factory=dict)
    deleting: bool = False
    terminal: bool = False
    next_sync: float = 0.0
    volumes_ready: bool = False
    evicted: str = ""             # the eviction message, once the eviction manager chose this pod

    @property
    def uid(self) -> str:
        return self.pod["metadata"]["uid"]


def _epoch(value: Any) -> float | None:
    """An RFC 3339 time (the monitor's) or a number, as seconds since the epoch."""
    if value in (None, "", 0):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).rstrip("Z")
    main, _, frac = text.partition(".")
    try:
        secs = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return secs + (float("0." + frac) if frac.isdigit() else 0.0)


def oom_score_adj_floor() -> int:
    """The lowest oom_score_adj we may give a child. Lowering it needs CAP_SYS_RESOURCE; without
    it (some sandboxes, rootless) we clamp to our own value, as a rootless kubelet does."""
    with open("/proc/self/status") as f:
        cap_eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    if cap_eff & (1 << 24):
        return -1000
    with open("/proc/self/oom_score_adj") as f:
        return int(f.read())


def container_hash(container: dict) -> str:
    """kubelet's container hash: a running container made from another spec is replaced."""
    return hashlib.sha256(json.dumps(container, sort_keys=True).encode()).hexdigest()[:16]


def container_id_for(pod: dict, name: str, attempt: int) -> str:
    """k8s_<container>_<pod>_<namespace>_<uid>_<attempt>, as dockershim named them (kept short)."""
    m = pod["metadata"]
    return f"k8s_{name[:40]}_{m['name'][:40]}_{m.get('namespace', 'default')[:20]}_{m['uid'][:8]}_{attempt}"


class Kubelet:
    def __init__(self, config: KubeletConfig, objects: ObjectSource | None = None,
                 api: Any = None, clock: Callable[[], float] = time.time,
                 runtime: RuntimeService | None = None, images: ImageService | None = None) -> None:
        from minikube_py.kernel.syscalls import Syscalls

        self.cfg = config
        self.clock = clock
        self.objects = objects or DictObjects()
        self.api = api
        self.runtime = runtime or RuntimeService(config.runtime_root)
        self.images = images or ImageService(config.image_root)
        self.sys = Syscalls()
        self.backoff = Backoff(config.backoff_initial, config.backoff_max, clock)
        self.events = EventRecorder(config.node_name, sink=self._send_event, clock=clock)
        self.probes = ProbeManager(KubeletProbeExecutors(self), clock)
        self.volume_manager = volumes.VolumeManager(self.sys)
        self.static = StaticPodSource(config.pod_manifest_path, config.node_name) \
            if config.pod_manifest_path else None
        self.pods: dict[str, PodRecord] = {}
        self._instances: dict[str, dict[str, list[Instance]]] = {}   # uid -> name -> newest first
        self._infra: dict[str, dict] = {}                             # uid -> infra container state
        self._lock = threading.RLock()
        self._busy: set[str] = set()
        self._stop = threading.Event()
        self._next_eviction = 0.0
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="pod-worker")
        if not config.memory_capacity:
            import psutil

            config.memory_capacity = psutil.virtual_memory().total
        self.oom_floor = oom_score_adj_floor()
        # Node pressure from this kubelet's thresholds and filesystems, reported on its Node.
        self.pressure = eviction.PressureMonitor(
            eviction.parse_thresholds(config.eviction_hard),
            lambda: eviction.observe(config.root, config.image_root),
            config.eviction_pressure_transition_period)
        if api is not None:
            api.pressure = self.pressure
        # CNI: the node's conflist and plugin executables, where a kubelet looks for them.
        self.conflist = str(config.node_network.write_conflist()) if config.node_network else None
        nn = config.node_network
        if nn is not None and config.host_ips == ["127.0.0.1"]:
            # The node's address is where its pods' traffic leaves: the uplink, else the bridge.
            config.host_ips = [nn.uplink.ip if nn.uplink else nn.gateway]
        self._reported_errors: dict[str, str] = {}
        os.makedirs(os.path.join(config.root, "pods"), exist_ok=True)
        self._load_state()

    # ------------------------------------------------------------------ on-disk state
    def _pod_dir(self, uid: str) -> str:
        return os.path.join(self.cfg.root, "pods", uid)

    def _save(self, rec: PodRecord) -> None:
        d = self._pod_dir(rec.uid)
        os.makedirs(d, exist_ok=True)
        data = {"pod": rec.pod, "sandbox": rec.sandbox.to_dict(), "start_time": rec.start_time,
                "deleting": rec.deleting, "terminal": rec.terminal, "evicted": rec.evicted}
        tmp = os.path.join(d, ".pod.json.tmp")
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, os.path.join(d, "pod.json"))

    def _save_backoff(self) -> None:
        tmp = os.path.join(self.cfg.root, ".backoff.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.backoff.to_dict(), f)
        os.replace(tmp, os.path.join(self.cfg.root, "backoff.json"))

    def _load_state(self) -> None:
        """A restarted kubelet: take back the pods (and back-off records) the last one had."""
        pods_dir = os.path.join(self.cfg.root, "pods")
        for uid in os.listdir(pods_dir):
            try:
                with open(os.path.join(pods_dir, uid, "pod.json")) as f:
                    data = json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                continue
            rec = PodRecord(data["pod"], SandboxRecord(**data["sandbox"]), data.get("start_time"),
                            deleting=data.get("deleting", False), terminal=data.get("terminal", False),
                            evicted=data.get("evicted", ""))
            try:
                with open(os.path.join(pods_dir, uid, "status.json")) as f:
                    rec.status = json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            self.pods[uid] = rec
            self.probes.add_pod(rec.pod)
        try:
            with open(os.path.join(self.cfg.root, "backoff.json")) as f:
                self.backoff.load(json.load(f))
        except (FileNotFoundError, json.JSONDecodeError):
            pass

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        """Run until stop(); containers keep running after the kubelet stops (as in Kubernetes)."""
        prober = threading.Thread(target=self._probe_loop, name="prober", daemon=True)
        prober.start()
        try:
            while not self._stop.is_set():
                self._tick()
                self._stop.wait(self.cfg.sync_period)
        finally:
            self._pool.shutdown(wait=True)
            prober.join(timeout=5)

    def stop(self) -> None:
        self._stop.set()

    def _tick(self) -> None:
        desired, complete = self._desired_pods()
        changed = self.relist()
        now = self.clock()
        with self._lock:
            for uid, pod in desired.items():
                rec = self.pods.get(uid)
                if rec is None:
                    rec = self.pods[uid] = PodRecord(pod)
                    self.probes.add_pod(pod)
                    self._save(rec)
                    changed.add(uid)
                elif pod.get("metadata", {}).get("deletionTimestamp") and not rec.deleting:
                    rec.deleting = True
                    rec.pod = pod
                    changed.add(uid)
                elif not rec.deleting and pod["spec"] != rec.pod["spec"]:
                    rec.pod = pod                # e.g. a new image: sync_pod restarts that container
                    self.probes.add_pod(pod)
                    self._save(rec)
                    changed.add(uid)
            for uid, rec in self.pods.items():
                # Until every source has answered once, a missing pod is unknown, not deleted.
                if complete and uid not in desired and not rec.deleting:
                    rec.deleting = True          # its manifest is gone: terminate it
                    changed.add(uid)
            due = [uid for uid, rec in self.pods.items() if uid in changed or now >= rec.next_sync]
            # Containers of pods nobody knows (state lost, a crash mid-delete): garbage.
            orphans = (set(self._instances) | set(self._infra)) - set(self.pods) - set(desired)
        for uid in due:
            self.dispatch(uid)
        if complete:
            for uid in orphans:
                self._submit_once("orphan:" + uid, lambda uid=uid: self.remove_orphan(uid))
        if now >= self._next_eviction:
            self._next_eviction = now + self.cfg.eviction_monitoring_interval
            self._submit_once("eviction", self.evict_if_pressured)

    def dispatch(self, uid: str) -> None:
        """One worker per pod at a time (kubelet's podWorkers)."""
        with self._lock:
            if uid in self._busy or uid not in self.pods:
                return
            self._busy.add(uid)

        def work() -> None:
            try:
                self.sync_pod(uid)
            except Exception:
                log.exception("sync of pod %s failed", uid)
                with self._lock:
                    if uid in self.pods:
                        self.pods[uid].next_sync = self.clock() + PENDING_RESYNC
            finally:
                with self._lock:
                    self._busy.discard(uid)

        if self._stop.is_set():
            work()
        else:
            self._pool.submit(work)

    def _submit_once(self, key: str, fn: Callable[[], None]) -> None:
        """Run fn on a worker unless the job named `key` still runs (orphan removal, eviction)."""
        with self._lock:
            if key in self._busy:
                return
            self._busy.add(key)

        def work() -> None:
            try:
                fn()
            except Exception:
                log.exception("%s failed", key)
            finally:
                with self._lock:
                    self._busy.discard(key)

        if self._stop.is_set():
            work()
        else:
            self._pool.submit(work)

    def remove_orphan(self, uid: str) -> None:
        """Remove what a pod without a record left: its containers (their cgroups, rootfs
        snapshots), its netns, its volume mounts, its pod cgroup and directory."""
        from minikube_py.runtime.cgroups import open_cgroup
        from minikube_py.runtime.state import StateDir

        parents = set()
        for st in self.runtime.list(f"_{uid[:8]}_"):
            if (st.get("annotations") or {}).get("io.kubernetes.pod.uid") != uid:
                continue
            try:
                parents.add(os.path.dirname(StateDir(self.cfg.runtime_root, st["id"]).read()["cgroup"]))
            except Exception:  # noqa: BLE001 - deleted meanwhile
                pass
            try:
                self.runtime.delete(st["id"], force=True)
            except RuntimeError_:
                pass
            self.images.release_rootfs(st["id"])
        netns = os.path.join(self.cfg.netns_dir, self.cfg.netns_prefix + uid[:12])
        from minikube_py.network import delete_netns, is_netns

        if is_netns(netns):
            delete_netns(netns, self.sys)
        self.volume_manager.teardown(os.path.join(self._pod_dir(uid), "volumes"))
        shutil.rmtree(self._pod_dir(uid), ignore_errors=True)
        for parent in parents:
            cg = open_cgroup(parent)
            if cg.exists():
                cg.kill_all()
                cg.destroy(prune=True)
        with self._lock:
            self._instances.pop(uid, None)
            self._infra.pop(uid, None)
        log.info("removed orphaned pod %s", uid)

    def _desired_pods(self) -> tuple[dict[str, dict], bool]:
        """(pods meant for this node, whether every source has been heard from)."""
        pods: dict[str, dict] = {}
        complete = True
        if self.static:
            pods.update(self.static.pods())
            for path, err in self.static.errors.items():
                if self._reported_errors.get(path) != err:       # say it once per version of the file
                    log.warning("static pod manifest %s skipped: %s", path, err)
            self._reported_errors = dict(self.static.errors)
        if self.api is not None:
            pods.update(self.api.pods_for_node())
            complete = self.api.has_synced()
        return pods, complete

    # ------------------------------------------------------------------ PLEG: relist
    def relist(self) -> set[str]:
        """Read every container from the runtime; return the pod uids whose containers changed."""
        instances: dict[str, dict[str, list[Instance]]] = {}
        infra: dict[str, dict] = {}
        for st in self.runtime.list():
            ann = st.get("annotations") or {}
            uid = ann.get("io.kubernetes.pod.uid")
            if not uid:
                continue
            if ann.get("io.kubernetes.cri.container-type") == "sandbox":
                if st["status"] != "stopped" or uid not in infra:
                    infra[uid] = st
                continue
            inst = self._instance(st, ann)
            instances.setdefault(uid, {}).setdefault(inst.name, []).append(inst)
        for by_name in instances.values():
            for lst in by_name.values():
                lst.sort(key=lambda i: i.attempt, reverse=True)
        changed = set()
        with self._lock:
            for uid in set(instances) | set(self._instances):
                old = {n: [(i.container_id, i.state) for i in lst]
                       for n, lst in self._instances.get(uid, {}).items()}
                new = {n: [(i.container_id, i.state) for i in lst]
                       for n, lst in instances.get(uid, {}).items()}
                if old != new:
                    changed.add(uid)
            for uid in set(infra) | set(self._infra):
                if (infra.get(uid) or {}).get("status") != (self._infra.get(uid) or {}).get("status"):
                    changed.add(uid)
            self._instances, self._infra = instances, infra
        return changed

    def _instance(self, st: dict, ann: dict) -> Instance:
        cid = st["id"]
        state = {"running": RUNNING, "created": "created", "stopped": EXITED}.get(st["status"], "unknown")
        inst = Instance(name=ann.get("io.kubernetes.container.name", ""), container_id=cid,
                        attempt=int(ann.get("io.kubernetes.container.restartCount", "0")),
                        image=ann.get("mkpy.io/image", ""), image_id=ann.get("mkpy.io/image-id", ""),
                        spec_hash=ann.get("mkpy.io/container-hash", ""),
                        state=state)
        started = self._started_at(cid)
        inst.started_at = started
        if state == EXITED:
            info = self.runtime.exit_info(cid) or {}
            inst.exit_code = int(info.get("exitCode", 255 if not info else 0))
            inst.signal = info.get("signal") or None
            inst.oom_killed = bool(info.get("oomKilled"))
            inst.started_at = _epoch(info.get("startedAt")) or started
            inst.finished_at = _epoch(info.get("finishedAt")) or self.clock()
            inst.message = self._termination_message(st, inst)
        return inst

    def _started_at(self, cid: str) -> float | None:
        try:
            with open(os.path.join(self.cfg.runtime_root, cid, "started")) as f:
                return _epoch(f.read().strip())
        except FileNotFoundError:
            return None

    def _termination_message(self, st: dict, inst: Instance) -> str:
        """The container's terminationMessagePath file (4 KiB at most); with
        FallbackToLogsOnError and a failed, silent exit: the log's last 80 lines (2 KiB)."""
        ann = st.get("annotations") or {}
        message = ""
        try:
            with open(ann.get("mkpy.io/termination-log") or "") as f:
                message = f.read(4096)
        except OSError:
            pass
        if message or not inst.exit_code:
            return message
        rec = self.pods.get(ann.get("io.kubernetes.pod.uid", ""))
        spec = next((c for c in ((rec.pod["spec"].get("containers") or []) if rec else [])
                     if c["name"] == inst.name), {})
        if spec.get("terminationMessagePolicy") != "FallbackToLogsOnError":
            return ""
        try:
            with open(ann.get("mkpy.io/log-path") or "") as f:
                lines = [ln.rstrip("\n").split(" ", 3) for ln in f.readlines()[-80:]]
        except OSError:
            return ""
        return "".join((p[3] if len(p) == 4 else "") + "\n" for p in lines)[-2048:]

    def _view(self, rec: PodRecord) -> PodRuntimeView:
        uid = rec.uid
        with self._lock:
            inst = {n: list(lst) for n, lst in self._instances.get(uid, {}).items()}

        def info(name: str, i: Instance) -> ContainerInfo:
            return ContainerInfo(i.container_id, i.state == RUNNING, i.started_at or 0.0)

        return PodRuntimeView(
            instances=inst, waiting=dict(rec.waiting),
            ready=lambda name, i: self.probes.ready(uid, name, info(name, i)),
            started=lambda name, i: self.probes.started(uid, name, info(name, i)),
            pod_ips=list(rec.sandbox.pod_ips), host_ips=list(self.cfg.host_ips),
            start_time=rec.start_time, terminal=rec.terminal)

    # ------------------------------------------------------------------ the pod worker
    def sync_pod(self, uid: str) -> None:
        with self._lock:
            rec = self.pods.get(uid)
        if rec is None:
            return
        if rec.deleting:
            self.terminate_pod(rec)
            return
        if rec.evicted and not rec.terminal:
            self._evict(rec)
            return
        if rec.start_time is None:
            rec.start_time = self.clock()
        rec.next_sync = self.clock() + PENDING_RESYNC
        if not rec.terminal and self._ensure_pod_infra(rec):
            self._sync_containers(rec)
        self._refresh(uid)
        phase = status.pod_status(rec.pod, self._view(rec), previous=rec.status, now=self.clock())["phase"]
        if phase in ("Succeeded", "Failed") and not rec.terminal:
            # Nothing will run again in this pod: stop what still runs (sidecars), release the
            # sandbox, keep the status.
            rec.terminal = True
            self._kill_all_containers(rec)
            self._refresh(uid)
            self._stop_sandbox(rec)
        self._publish_status(rec)
        if phase == "Running" and all(s["ready"] for s in rec.status.get("containerStatuses", [])):
            rec.next_sync = min(rec.next_sync + RESYNC, self.clock() + RESYNC)
        self._save(rec)

    def _refresh(self, uid: str) -> None:
        """Re-read this pod's containers after acting, so status reflects what we just did."""
        by_name: dict[str, list[Instance]] = {}
        for st in self.runtime.list(f"_{uid[:8]}_"):
            ann = st.get("annotations") or {}
            if ann.get("io.kubernetes.pod.uid") != uid \
                    or ann.get("io.kubernetes.cri.container-type") == "sandbox":
                continue
            inst = self._instance(st, ann)
            by_name.setdefault(inst.name, []).append(inst)
        for lst in by_name.values():
            lst.sort(key=lambda i: i.attempt, reverse=True)
        with self._lock:
            self._instances[uid] = by_name

    def _ensure_pod_infra(self, rec: PodRecord) -> bool:
        """Pod cgroup, volumes, sandbox. False when the pod cannot proceed yet."""
        pod = rec.pod
        from minikube_py.runtime.cgroups import open_cgroup

        cg = open_cgroup(qos.pod_cgroup_parent(pod))
        cg.create()
        cg.apply(qos.pod_resources(pod, self.cfg.pod_pids_limit))
        if not rec.volumes_ready:
            try:
                ctx = EnvContext(pod=pod, node_name=self.cfg.node_name, pod_ips=rec.sandbox.pod_ips,
                                 host_ips=self.cfg.host_ips, objects=self.objects)
                plans = volumes.plan_volumes(pod, os.path.join(self.cfg.root, "pods"), self.objects, ctx,
                                             getattr(self.objects, "pvc_path", None))
                self.volume_manager.setup(plans)
            except (volumes.VolumeError, ContainerConfigError, OSError) as exc:
                self.events.record(pod, "FailedMount", str(exc), "Warning")
                return False
            rec.volumes_ready = True
        infra = self._infra.get(rec.uid)
        if infra is None or infra.get("status") != "running":
            if rec.sandbox.infra_id:
                # The sandbox died: as kubelet does, kill every container and make a new one.
                self.events.record(pod, "SandboxChanged",
                                   "Pod sandbox changed, it will be killed and re-created.")
                self._kill_all_containers(rec, grace=0)
                self._stop_sandbox(rec)
                rec.sandbox.attempt += 1
            try:
                self._start_sandbox(rec)
            except Exception as exc:
                log.exception("sandbox for %s", pod["metadata"]["name"])
                self.events.record(pod, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}",
                                   "Warning")
                self._stop_sandbox(rec)
                return False
        return True

    def _start_sandbox(self, rec: PodRecord) -> None:
        pod, uid = rec.pod, rec.uid
        host_network = bool(pod["spec"].get("hostNetwork"))
        sb = rec.sandbox
        sb.infra_id = container_id_for(pod, "POD", sb.attempt)
        if not host_network:
            from minikube_py.network import create_netns, is_netns

            sb.netns_path = os.path.join(self.cfg.netns_dir, self.cfg.netns_prefix + uid[:12])
            self._save(rec)
            if not is_netns(sb.netns_path):
                if os.path.exists(sb.netns_path):
                    os.unlink(sb.netns_path)
                create_netns(sb.netns_path, self.sys)
            if self.cfg.node_network is not None:
                nn = self.cfg.node_network
                result = nn.cni(self.conflist, "ADD", sb.infra_id, sb.netns_path)
                sb.cni = True
                sb.pod_ips = [ip["address"].split("/")[0] for ip in result.get("ips") or []]
            else:
                sandbox.set_loopback_up(sb.netns_path)
        else:
            sb.pod_ips = list(self.cfg.host_ips)
        self._save(rec)
        pod_dir = self._pod_dir(uid)
        sandbox.write_pod_files(pod_dir, pod, sb.pod_ips, self.cfg.cluster_dns)
        bundle = os.path.join(pod_dir, "bundles", sb.infra_id)
        os.makedirs(os.path.join(bundle, "rootfs"), exist_ok=True)
        self._ensure_image(self.cfg.infra_image)
        overlay = self.images.prepare_rootfs(self.cfg.infra_image, sb.infra_id)
        cfg = sandbox.infra_config(pod, sb.infra_id, os.path.join(bundle, "rootfs"), overlay,
                                   self._pod_netns(rec), self.cfg.infra_argv)
        cfg["process"]["oomScoreAdj"] = max(cfg["process"]["oomScoreAdj"], self.oom_floor)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
        if self.runtime.state(sb.infra_id) is not None:
            self.runtime.delete(sb.infra_id, force=True)
        self.runtime.run(sb.infra_id, bundle)
        self._infra[uid] = self.runtime.state(sb.infra_id) or {}

    def _pod_netns(self, rec: PodRecord) -> str | None:
        """The pod's own netns; for hostNetwork pods the node's (a node netns, like a kind node's,
        or None: the namespace the kubelet runs in)."""
        if rec.sandbox.netns_path:
            return rec.sandbox.netns_path
        nn = self.cfg.node_network
        return nn.netns_path if nn is not None else None

    def _ensure_image(self, ref: str) -> None:
        if self.images.present(ref):
            return
        if ref == "busybox:latest":
            # The default infra image is built offline from busybox-static (rootfs/), no registry.
            from minikube_py.image import baseimage

            if baseimage.main(["--root", self.cfg.image_root]) == 0:
                return
        self.images.pull(ref)

    # -- containers ----------------------------------------------------------------
    def _latest(self, uid: str, name: str) -> Instance | None:
        with self._lock:
            lst = self._instances.get(uid, {}).get(name) or []
        return lst[0] if lst else None

    def _sync_containers(self, rec: PodRecord) -> None:
        pod, uid = rec.pod, rec.uid
        policy = pod["spec"]["restartPolicy"]
        # Init containers: one at a time, in order, each to a successful end - except sidecars
        # (restartPolicy: Always), which only have to be started and then run beside the rest.
        for c in pod["spec"].get("initContainers") or []:
            last = self._latest(uid, c["name"])
            if is_sidecar(c):
                if last is None:
                    self._start_container(rec, c, 0)
                    return
                self._keep_running(rec, c, last, "Always")
                last = self._latest(uid, c["name"])
                info = last and ContainerInfo(last.container_id, last.state == RUNNING,
                                              last.started_at or 0.0)
                # Without a startup probe, a sidecar that has run once has started, even if
                # it already exited (a relist can miss a short run): its restarts then happen
                # beside the rest, and the next init container must not wait for them.
                ran_once = not c.get("startupProbe") and last is not None and last.started_at is not None
                if (not ran_once and not self.probes.started(uid, c["name"], info)
                        and not self._any_app_started(uid)):
                    return      # the next init container waits until this sidecar has started
                continue
            if last is None:
                self._start_container(rec, c, 0)
                return
            if last.state == RUNNING:
                return
            if last.state == EXITED and last.exit_code == 0:
                continue
            if last.state == EXITED and policy == "Never":
                return          # the pod has failed; status says so
            self._restart_if_due(rec, c, last)
            return
        for c in pod["spec"].get("containers") or []:
            last = self._latest(uid, c["name"])
            if last is None:
                self._start_container(rec, c, 0)
                continue
            self._keep_running(rec, c, last, policy)

    def _any_app_started(self, uid: str) -> bool:
        with self._lock:
            by_name = self._instances.get(uid, {})
        rec = self.pods.get(uid)
        return bool(rec) and any(by_name.get(c["name"]) for c in rec.pod["spec"].get("containers") or [])

    def _keep_running(self, rec: PodRecord, c: dict, last: Instance, policy: str) -> None:
        """A container that has run before: kill it if a probe condemned it, restart it when
        the restart policy and the back-off say so."""
        pod, uid, name = rec.pod, rec.uid, c["name"]
        if last.state == RUNNING:
            verdict = self.probes.must_restart(uid, name, ContainerInfo(last.container_id, True,
                                                                        last.started_at or 0.0))
            changed = bool(last.spec_hash) and last.spec_hash != container_hash(c)
            if not verdict and not changed:
                rec.waiting.pop(name, None)
                return
            why = (f"Container {name} failed {verdict.lower()} probe, will be restarted" if verdict
                   else f"Container {name} definition changed, will be restarted")
            self.events.record(pod, "Killing", why, container=name)
            self._kill_container(rec, c, last, self._grace(pod, c))
            self._refresh(uid)
            last = self._latest(uid, name)
            if changed and last is not None:
                self._gc_instances(rec, name)
                self._start_container(rec, c, last.attempt + 1)      # a new spec: no back-off
                return
        if last is not None and should_restart(policy, LastRun(
                "exited" if last.state == EXITED else last.state, last.exit_code or 0)):
            self._restart_if_due(rec, c, last)
        else:
            rec.waiting.pop(name, None)

    def _restart_if_due(self, rec: PodRecord, c: dict, last: Instance) -> None:
        """kubelet's doBackOff: not before the back-off since the last exit has passed."""
        key = f"{rec.uid}/{c['name']}"
        finished = last.finished_at or self.clock()
        if last.state == EXITED and self.backoff.in_backoff_since(key, finished):
            delay = self.backoff.get(key)
            m = rec.pod["metadata"]
            msg = (f"back-off {format_duration(delay)} restarting failed container={c['name']} "
                   f"pod={m['name']}_{m.get('namespace')}({m['uid']})")
            if rec.waiting.get(c["name"], ("",))[0] != "CrashLoopBackOff":
                self.events.record(rec.pod, "BackOff", f"Back-off restarting failed container {c['name']} in "
                                   f"pod {m['name']}_{m.get('namespace')}({m['uid']})", "Warning", c["name"])
            rec.waiting[c["name"]] = ("CrashLoopBackOff", msg)
            rec.next_sync = min(rec.next_sync, finished + delay + 0.05)
            return
        if last.state == EXITED:
            self.backoff.next(key, finished)
            self._save_backoff()
        self._gc_instances(rec, c["name"])
        self._start_container(rec, c, last.attempt + 1)

    def _grace(self, pod: dict, c: dict | None = None) -> float:
        probe_grace = ((c or {}).get("livenessProbe") or {}).get("terminationGracePeriodSeconds")
        if probe_grace is not None:
            return float(probe_grace)
        m = pod["metadata"]
        if m.get("deletionGracePeriodSeconds") is not None:
            return float(m["deletionGracePeriodSeconds"])
        return float(pod["spec"].get("terminationGracePeriodSeconds", 30))

    def _start_container(self, rec: PodRecord, c: dict, attempt: int) -> bool:
        pod, uid, name = rec.pod, rec.uid, c["name"]
        image = c["image"]
        ref = pullpolicy.normalize_ref(image)
        # 1. the image
        present = self.images.present(ref)
        decision = pullpolicy.decide(c.get("imagePullPolicy", "IfNotPresent"), image, present)
        if decision.error_reason:
            rec.waiting[name] = (decision.error_reason, decision.message)
            self.events.record(pod, "ErrImageNeverPull", decision.message, "Warning", name)
            return False
        if decision.pull:
            key = f"{uid}_{image}"
            if self.backoff.in_backoff_since_update(key):
                rec.waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
                self.events.record(pod, "BackOff", f'Back-off pulling image "{image}"', "Normal", name)
                return False
            self.events.record(pod, "Pulling", f'Pulling image "{image}"', container=name)
            t0 = time.monotonic()
            try:
                self.images.pull(ref)
            except Exception as exc:  # noqa: BLE001 - any pull failure is ErrImagePull
                self.backoff.next(key, self.clock())
                rec.waiting[name] = ("ErrImagePull", str(exc))
                rec.next_sync = min(rec.next_sync, self.clock() + self.backoff.get(key))
                self.events.record(pod, "Failed", f'Failed to pull image "{image}": {exc}', "Warning", name)
                self.events.record(pod, "Failed", "Error: ErrImagePull", "Warning", name)
                return False
            took = time.monotonic() - t0
            self.events.record(pod, "Pulled", f'Successfully pulled image "{image}" in {took:.3f}s',
                               container=name)
        else:
            self.events.record(pod, "Pulled", decision.message, container=name)
        # 2. what it runs
        cid = container_id_for(pod, name, attempt)
        try:
            img = self.images.image(ref)
            image_config = dict(img.config)
            ctx = EnvContext(pod=pod, node_name=self.cfg.node_name, pod_ips=rec.sandbox.pod_ips,
                             host_ips=self.cfg.host_ips, objects=self.objects,
                             node_allocatable={"cpu": str(os.cpu_count() or 1),
                                               "memory": str(self.cfg.memory_capacity)})
            kube_env, skipped = command.container_env(c, ctx)
            if skipped:
                self.events.record(pod, "InvalidEnvironmentVariableNames",
                                   f"Keys [{', '.join(skipped)}] from the EnvFrom were skipped since they "
                                   "are considered invalid environment variable names.", "Warning", name)
            argv = command.process_args(c, image_config, kube_env)
            hostname = pod["spec"].get("hostname") or pod["metadata"]["name"]
            env = command.oci_env(kube_env, image_config, hostname)
            plans = volumes.plan_volumes(pod, os.path.join(self.cfg.root, "pods"), self.objects, ctx,
                                         getattr(self.objects, "pvc_path", None))
        except (ContainerConfigError, volumes.VolumeError) as exc:
            rec.waiting[name] = ("CreateContainerConfigError", str(exc))
            self.events.record(pod, "Failed", f"Error: {exc}", "Warning", name)
            return False
        # 3. the bundle
        pod_dir = self._pod_dir(uid)
        bundle = os.path.join(pod_dir, "bundles", cid)
        os.makedirs(os.path.join(bundle, "rootfs"), exist_ok=True)
        term_dir = os.path.join(pod_dir, "containers", name)
        os.makedirs(term_dir, exist_ok=True)
        term_log = os.path.join(term_dir, f"termination-log-{attempt}")
        open(term_log, "w").close()
        os.chmod(term_log, 0o666)
        mounts = sandbox.pod_file_mounts(pod_dir) + volumes.container_mounts(c, plans)
        mounts.append(ociconfig.bind_mount(term_log, c.get("terminationMessagePath", "/dev/termination-log")))
        infra = self._infra.get(uid) or {}
        infra_pid = infra.get("pid")
        try:
            overlay = self.images.prepare_rootfs(ref, cid)
            occ = ociconfig.ContainerContext(
                container_id=cid, attempt=attempt, argv=argv, env=env, image_config=image_config,
                rootfs=os.path.join(bundle, "rootfs"), overlay=overlay,
                netns_path=self._pod_netns(rec),
                ipc_path=f"/proc/{infra_pid}/ns/ipc" if infra_pid else None,
                uts_path=f"/proc/{infra_pid}/ns/uts" if infra_pid else None,
                mounts=mounts,
                log_path=ociconfig.container_log_path(pod, name, attempt, self.cfg.log_root),
                memory_capacity=self.cfg.memory_capacity,
                user_lookup=_passwd_lookup(overlay),
                seccomp_default=_runtime_default_seccomp,
                extra_annotations={"mkpy.io/image": image, "mkpy.io/image-id": img.digest,
                                   "mkpy.io/container-hash": container_hash(c),
                                   "mkpy.io/termination-log": term_log})
            config = ociconfig.container_config(pod, c, occ)
        except ContainerConfigError as exc:
            self.images.release_rootfs(cid)
            rec.waiting[name] = ("CreateContainerConfigError", str(exc))
            self.events.record(pod, "Failed", f"Error: {exc}", "Warning", name)
            return False
        config["process"]["oomScoreAdj"] = max(config["process"]["oomScoreAdj"], self.oom_floor)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(config, f)
        # 4. create + start
        try:
            if self.runtime.state(cid) is not None:
                self.runtime.delete(cid, force=True)
            self.runtime.create(cid, bundle)
        except RuntimeError_ as exc:
            self.images.release_rootfs(cid)
            rec.waiting[name] = ("CreateContainerError", str(exc))
            self.events.record(pod, "Failed", f"Error: {exc}", "Warning", name)
            return False
        self.events.record(pod, "Created", f"Created container {name}", container=name)
        try:
            self.runtime.start(cid)
        except RuntimeError_ as exc:
            rec.waiting[name] = ("RunContainerError", str(exc))
            self.events.record(pod, "Failed", f"Error: failed to start container: {exc}", "Warning", name)
            return False
        rec.waiting.pop(name, None)
        self.events.record(pod, "Started", f"Started container {name}", container=name)
        post = ((c.get("lifecycle") or {}).get("postStart") or {}).get("exec")
        if post:
            res = self.runtime.exec(cid, list(post.get("command") or []), timeout=self._grace(pod))
            if res.returncode != 0:
                msg = f"PostStartHook failed: {(res.stdout + res.stderr).strip()}"
                self.events.record(pod, "FailedPostStartHook", msg, "Warning", name)
                self.runtime.kill(cid, "SIGKILL")
        return True

    def _kill_container(self, rec: PodRecord, c: dict | None, inst: Instance, grace: float) -> None:
        """preStop, SIGTERM, wait up to the grace period, SIGKILL (kubelet's killContainer)."""
        cid = inst.container_id
        deadline = time.monotonic() + grace
        pre = (((c or {}).get("lifecycle") or {}).get("preStop") or {}).get("exec")
        if pre and grace > 0:
            try:
                self.runtime.exec(cid, list(pre.get("command") or []), timeout=max(grace, 0.1))
            except Exception:  # noqa: BLE001 - a failing preStop does not stop the kill
                log.warning("preStop of %s failed", cid)
        for sig in ("SIGTERM", "SIGKILL") if grace > 0 else ("SIGKILL",):
            try:
                self.runtime.kill(cid, sig)
            except RuntimeError_:
                break            # already stopped
            limit = deadline if sig == "SIGTERM" else time.monotonic() + 10
            while time.monotonic() < limit:
                st = self.runtime.state(cid)
                if st is None or st["status"] == "stopped":
                    return
                time.sleep(0.05)

    def _kill_all_containers(self, rec: PodRecord, grace: float | None = None) -> None:
        """Stop every running container, in parallel: app containers first, then the sidecars
        (they outlive what they serve, as in Kubernetes)."""
        specs = {c["name"]: c for c in (rec.pod["spec"].get("containers") or [])
                 + (rec.pod["spec"].get("initContainers") or [])}
        with self._lock:
            running = [i for lst in self._instances.get(rec.uid, {}).values() for i in lst
                       if i.state == RUNNING]
        g = self._grace(rec.pod) if grace is None else grace
        for sidecars in (False, True):
            threads = []
            for inst in running:
                c = specs.get(inst.name)
                if is_sidecar(c or {}) != sidecars:
                    continue
                if c is not None:
                    self.events.record(rec.pod, "Killing", f"Stopping container {inst.name}",
                                       container=inst.name)
                t = threading.Thread(target=self._kill_container, args=(rec, c, inst, g))
                t.start()
                threads.append(t)
            for t in threads:
                t.join()

    def _gc_instances(self, rec: PodRecord, name: str, keep: int = 1) -> None:
        """Keep the newest `keep` dead instances of a container (for lastState and --previous)."""
        with self._lock:
            dead = [i for i in self._instances.get(rec.uid, {}).get(name) or [] if i.state == EXITED]
        for inst in dead[keep:]:
            self._remove_instance(rec, inst.container_id)

    def _remove_instance(self, rec: PodRecord, cid: str) -> None:
        """Delete a container for good: runtime state, rootfs snapshot, bundle, and its log
        (kubelet's container GC keeps logs only for the containers it keeps)."""
        st = self.runtime.state(cid)
        log_path = ((st or {}).get("annotations") or {}).get("mkpy.io/log-path")
        try:
            self.runtime.delete(cid, force=True)
        except RuntimeError_:
            pass
        self.images.release_rootfs(cid)
        shutil.rmtree(os.path.join(self._pod_dir(rec.uid), "bundles", cid), ignore_errors=True)
        if log_path and log_path.startswith(self.cfg.log_root + os.sep):
            try:
                os.unlink(log_path)
            except FileNotFoundError:
                pass

    # -- teardown ----------------------------------------------------------------------
    def _stop_sandbox(self, rec: PodRecord) -> None:
        sb = rec.sandbox
        if sb.infra_id and self.runtime.state(sb.infra_id) is not None:
            self._remove_instance(rec, sb.infra_id)
        if sb.netns_path:
            if sb.cni and self.cfg.node_network is not None:
                nn = self.cfg.node_network
                try:
                    nn.cni(self.conflist, "DEL", sb.infra_id, sb.netns_path)
                except Exception:
                    log.exception("CNI DEL for %s", sb.infra_id)
            from minikube_py.network import delete_netns, is_netns

            if is_netns(sb.netns_path):
                delete_netns(sb.netns_path, self.sys)
            elif os.path.exists(sb.netns_path):
                os.unlink(sb.netns_path)
        with self._lock:
            self._infra.pop(rec.uid, None)
        sb.pod_ips, sb.netns_path, sb.cni = [], "", False

    # ------------------------------------------------------------------ eviction
    def evict_if_pressured(self) -> None:
        """kubelet's eviction manager, one pass: measure; if a hard threshold is met, choose the
        pod to evict for the first such signal (memory first) and hand it to its pod worker."""
        self.pressure.check()
        signal = next((sig for sig in eviction.SIGNAL_ORDER if sig in self.pressure.met), None)
        if signal is None:
            return
        with self._lock:
            if any(r.evicted and not r.terminal for r in self.pods.values()):
                return  # one at a time: the last one is still going (kubelet waits for its cleanup)
            recs = [r for r in self.pods.values() if not (r.deleting or r.terminal or r.evicted)
                    and not eviction.is_critical(r.pod)]
        if not recs:
            log.warning("node low on %s (%s), but no pod may be evicted",
                        eviction.SIGNAL_RESOURCE[signal], signal)
            return
        victim = eviction.rank([self._usage(r, signal) for r in recs])[0]
        rec = next(r for r in recs if r.pod is victim.pod)
        rec.evicted = eviction.eviction_message(signal, self.pressure.thresholds[signal],
                                                self.pressure.observed[signal], victim)
        log.warning("evicting pod %s/%s: %s", rec.pod["metadata"].get("namespace"),
                    rec.pod["metadata"]["name"], rec.evicted)
        rec.next_sync = 0.0
        self.dispatch(rec.uid)

    def _usage(self, rec: PodRecord, signal: str) -> eviction.PodUsage:
        """What the pod and each running container use of the resource `signal` is short of."""
        resource = eviction.SIGNAL_RESOURCE[signal]
        stat = {"memory": "memory_usage", "pids": "pids_current"}.get(resource)  # None: a disk resource
        parent = qos.pod_cgroup_parent(rec.pod)
        specs = {c["name"]: c for c in containers_of(rec.pod["spec"])}
        with self._lock:
            running = [lst[0] for lst in self._instances.get(rec.uid, {}).values()
                       if lst and lst[0].state == RUNNING]
        containers = []
        for inst in running:
            c = specs.get(inst.name) or {}
            # (a container's writable layer is not measured: docs/kubelet.md, "Eviction")
            used = (qos.cgroup_stats(f"{parent}/{inst.container_id}").get(stat) or 0) if stat else 0
            ask = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            request = quantity.value(ask) if ask and resource in ("memory", "ephemeral-storage") else 0
            containers.append(eviction.ContainerUsage(inst.name, int(used), request))
        if stat:
            total = qos.cgroup_stats(parent).get(stat) or 0
        else:  # emptyDir volumes and logs on the node's filesystem
            places = (os.path.join(self._pod_dir(rec.uid), "volumes"),
                      ociconfig.pod_log_dir(rec.pod, self.cfg.log_root))
            total = sum(eviction.disk_usage(d, inodes=resource == "inodes") for d in places)
        return eviction.PodUsage(rec.pod, containers, max(int(total), sum(c.usage for c in containers)))

    def _evict(self, rec: PodRecord) -> None:
        """Kill the chosen pod's containers now (a hard threshold: no grace period), release its
        sandbox, and leave it Failed/Evicted; it is not restarted. Its controller replaces it."""
        self.events.record(rec.pod, "Evicted", rec.evicted, "Warning")
        self._refresh(rec.uid)
        self._kill_all_containers(rec, grace=0)
        rec.terminal = True
        self._refresh(rec.uid)
        self._stop_sandbox(rec)
        self._publish_status(rec)
        self._save(rec)

    def terminate_pod(self, rec: PodRecord) -> None:
        """Graceful delete: containers (preStop/TERM/grace/KILL), sandbox, network, volumes, cgroups."""
        from minikube_py.runtime.cgroups import open_cgroup

        rec.deleting = True
        self._save(rec)
        self._refresh(rec.uid)
        self._kill_all_containers(rec)
        for st in self.runtime.list():
            if (st.get("annotations") or {}).get("io.kubernetes.pod.uid") == rec.uid:
                self._remove_instance(rec, st["id"])
        self._stop_sandbox(rec)
        self.volume_manager.teardown(os.path.join(self._pod_dir(rec.uid), "volumes"))
        cg = open_cgroup(qos.pod_cgroup_parent(rec.pod))
        if cg.exists():
            cg.kill_all()
            cg.destroy(prune=True)
        self.probes.remove_pod(rec.uid)
        shutil.rmtree(self._pod_dir(rec.uid), ignore_errors=True)
        shutil.rmtree(ociconfig.pod_log_dir(rec.pod, self.cfg.log_root), ignore_errors=True)
        for key in [k for k in self.backoff.to_dict() if k.startswith(rec.uid)]:
            self.backoff.reset(key)
        with self._lock:
            self.pods.pop(rec.uid, None)
            self._instances.pop(rec.uid, None)
        if self.api is not None:
            self.api.pod_deleted(rec.pod)

    def shutdown_pods(self) -> None:
        """Terminate every pod now (tests and `mkpy kubelet --drain`); the real kubelet never does."""
        for rec in list(self.pods.values()):
            rec.deleting = True
            rec.pod["metadata"]["deletionGracePeriodSeconds"] = 0
            self.relist()
            self.terminate_pod(rec)

    # -- status ---------------------------------------------------------------------
    def _publish_status(self, rec: PodRecord) -> None:
        new = status.pod_status(rec.pod, self._view(rec), previous=rec.status, now=self.clock())
        if rec.evicted:
            new = status.evicted(new, rec.evicted, self.clock())
        rec.status = new
        d = self._pod_dir(rec.uid)
        os.makedirs(d, exist_ok=True)
        obj = dict(rec.pod)
        obj["status"] = new
        tmp = os.path.join(d, ".status.json.tmp")
        with open(tmp, "w") as f:
            json.dump(new, f)
        os.replace(tmp, os.path.join(d, "status.json"))
        with open(tmp, "w") as f:
            json.dump(obj, f)
        os.replace(tmp, os.path.join(d, "pod-with-status.json"))
        if self.api is not None:
            self.api.update_pod_status(rec.pod, new)

    def _send_event(self, event: dict) -> None:
        uid = event["involvedObject"].get("uid", "")
        d = self._pod_dir(uid)
        if os.path.isdir(d):
            with open(os.path.join(d, "events.jsonl"), "a") as f:
                f.write(json.dumps(event) + "\n")
        if self.api is not None:
            self.api.record_event(event)

    # ------------------------------------------------------------------ probes
    def _probe_loop(self) -> None:
        while not self._stop.is_set():
            for uid, rec in list(self.pods.items()):
                if rec.deleting or rec.terminal:
                    continue
                with self._lock:
                    insts = {n: lst[0] for n, lst in self._instances.get(uid, {}).items() if lst}
                infos = {n: ContainerInfo(i.container_id, i.state == RUNNING, i.started_at or 0.0)
                         for n, i in insts.items()}
                ip = rec.sandbox.pod_ips[0] if rec.sandbox.pod_ips else "127.0.0.1"
                before = {n: (self.probes.ready(uid, n, inf), self.probes.must_restart(uid, n, inf))
                          for n, inf in infos.items()}
                for ev in self.probes.step(uid, infos, pod_ip=ip):
                    self.events.record(rec.pod, "Unhealthy", f"{ev.kind} probe failed: {ev.output}".strip(),
                                       "Warning", ev.container)
                after = {n: (self.probes.ready(uid, n, inf), self.probes.must_restart(uid, n, inf))
                         for n, inf in infos.items()}
                if before != after:
                    rec.next_sync = 0       # a verdict changed: the worker acts now
                    self.dispatch(uid)
            self._stop.wait(0.2)


def _runtime_default_seccomp(caps: list[str]) -> dict:
    """seccompProfile: RuntimeDefault -> the runtime's Docker-like profile for these capabilities."""
    from minikube_py.runtime.seccomp import default_profile

    return default_profile(caps)


def _passwd_lookup(overlay: dict) -> Callable[[str], tuple[int, int] | None]:
    """Resolve an image's user name through /etc/passwd in its layers (top layer first)."""
    def lookup(name: str) -> tuple[int, int] | None:
        for layer in overlay.get("lower") or []:
            path = os.path.join(layer, "etc", "passwd")
            if os.path.isfile(path):
                with open(path) as f:
                    for line in f:
                        parts = line.strip().split(":")
                        if len(parts) >= 4 and parts[0] == name:
                            return int(parts[2]), int(parts[3])
                return None
        return None
    return lookup


def install_signal_handlers(k: Kubelet) -> None:
    def handler(signum: int, frame: Any) -> None:
        k.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
