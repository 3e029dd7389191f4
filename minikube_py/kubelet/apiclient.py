"""The kubelet's side of the API server: its Node, its Lease, its pods, their status, events.

`NodeAPI` is the interface the Kubelet takes (`api=`); this implementation speaks through
`minikube_py.api.client.Client`, so it works with our API server and any real one:
  * register: create the Node (capacity/allocatable from psutil, addresses, conditions,
    nodeInfo) or, when it exists, refresh its status;
  * heartbeat: renew the Lease kube-node-lease/<node> every 10 s (what the node lifecycle
    controller watches), and re-post the Node's status every 60 s, or at once when a pressure
    condition (MemoryPressure, DiskPressure, PIDPressure: eviction.py) changes;
  * pods: an Informer (list, then watch) of the pods with fieldSelector spec.nodeName=<node>;
  * status: PATCH pods/<name>/status; events: POST events; a terminated pod that the API asked
    to delete (deletionTimestamp) is finally deleted with grace 0, as kubelet does;
  * static pods get a *mirror pod* (annotation kubernetes.io/config.mirror) so `kubectl get
    pods` shows them; it carries their status, is made again if deleted, and goes with them.
ConfigMaps and Secrets for env and volumes are read through `ApiObjects`.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from typing import Any

from minikube_py.k8s.meta import micro_rfc3339, now_rfc3339
from minikube_py.kubelet import eviction, podspec

log = logging.getLogger("mkpy.kubelet.api")

KUBELET_VERSION = "v1.30.0-mkpy"
LEASE_DURATION = 40
LEASE_RENEW = 10.0
STATUS_REPORT = 60.0


def _now() -> str:
    return now_rfc3339(time.time())


def _micro_now() -> str:
    return micro_rfc3339(time.time())


def node_object(name: str, addresses: list[str], max_pods: int = 110, kubelet_port: int = 0) -> dict:
    """The Node as kubelet registers it: capacity from the machine, allocatable the same
    (no reservations here), the usual labels, and conditions saying it is Ready."""
    import psutil

    cpus = str(os.cpu_count() or 1)
    mem = f"{psutil.virtual_memory().total // 1024}Ki"
    disk = f"{psutil.disk_usage('/').total // 1024}Ki"
    capacity = {"cpu": cpus, "memory": mem, "pods": str(max_pods), "ephemeral-storage": disk}
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    now = _now()

    def cond(ctype: str, status: str, reason: str, message: str) -> dict:
        return {"type": ctype, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": now}

    boot = ""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        pass
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                              "kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
                                              "beta.kubernetes.io/arch": arch}},
        "spec": {},
        "status": {
            "capacity": capacity, "allocatable": dict(capacity),
            "addresses": [{"type": "InternalIP", "address": a} for a in addresses]
                         + [{"type": "Hostname", "address": name}],
            "conditions": [cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
                                "kubelet has sufficient memory available"),
                           cond("DiskPressure", "False", "KubeletHasNoDiskPressure",
                                "kubelet has no disk pressure"),
                           cond("PIDPressure", "False", "KubeletHasSufficientPID",
                                "kubelet has sufficient PID available"),
                           cond("Ready", "True", "KubeletReady", "kubelet is posting ready status")],
            # Where the API server reaches this kubelet for logs, exec and port-forward.
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                         "containerRuntimeVersion": "mkpy://0.1.0", "kernelVersion": platform.release(),
                         "osImage": _os_image(), "operatingSystem": "linux", "architecture": arch,
                         "bootID": boot, "machineID": _machine_id(), "systemUUID": _machine_id()},
        },
    }


def _os_image() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _machine_id() -> str:
    try:
        with open("/etc/machine-id") as f:
            return f.read().strip()
    except OSError:
        return ""


class ApiObjects:
    """ConfigMaps and Secrets from the API server (an ObjectSource)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _get(self, kind: str, ns: str, name: str) -> dict | None:
        from minikube_py.api.errors import ApiError

        try:
            return self.client.get(kind, name, ns)
        except ApiError as exc:
            if getattr(exc, "code", None) == 404 or "NotFound" in str(exc):
                return None
            raise

    def get_configmap(self, namespace: str, name: str) -> dict | None:
        return self._get("configmaps", namespace, name)

    def get_secret(self, namespace: str, name: str) -> dict | None:
        return self._get("secrets", namespace, name)

    def pvc_path(self, namespace: str, claim: str) -> str | None:
        """The host directory behind a bound claim: its PersistentVolume's local or hostPath path."""
        pvc = self._get("persistentvolumeclaims", namespace, claim)
        volume = ((pvc or {}).get("spec") or {}).get("volumeName")
        if not volume:
            return None          # not bound (yet): the pod waits, as in Kubernetes
        pv = self._get("persistentvolumes", "", volume) or {}
        spec = pv.get("spec") or {}
        return (spec.get("local") or spec.get("hostPath") or {}).get("path")


class NodeAPI:
    def __init__(self, client: Any, node_name: str, addresses: list[str]) -> None:
        self.client = client
        self.node_name = node_name
        self.addresses = addresses
        from minikube_py.api.informer import Informer

        self.informer = Informer(client, "pods", field_selector=f"spec.nodeName={node_name}", bookmarks=True)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.kubelet_port = 0          # set before start() when the kubelet serves HTTP
        self.serves_on_node_ip = False  # True: HTTPS on InternalIP:kubelet_port (another machine's API)
        self._node_uid = ""
        # The Kubelet gives its own (thresholds, filesystems); without one, kubelet's defaults on /.
        self.pressure: eviction.PressureMonitor | None = None
        self._reported: dict[str, dict] = {}   # pressure condition type -> as last posted

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        self.register_node()
        self.informer.start()
        t = threading.Thread(target=self._heartbeat_loop, name="lease", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.informer.stop()
        for t in self._threads:
            t.join(timeout=5)

    def has_synced(self) -> bool:
        """True once the first list of this node's pods has arrived (before that, a pod missing
        from the cache is unknown, not deleted)."""
        return self.informer.has_synced()

    # -- the Node and its Lease ---------------------------------------------------------
    def register_node(self) -> dict:
        from minikube_py.api.errors import ApiError

        node = node_object(self.node_name, self.addresses, kubelet_port=self.kubelet_port)
        status = node["status"]
        status["conditions"] = self.pressure_conditions() + [
            c for c in status["conditions"] if c["type"] not in eviction.CONDITIONS]
        if self.kubelet_port and not self.serves_on_node_ip:
            # Our kubelet serves plain HTTP on the host's loopback, while its InternalIP may be the
            # node netns's bridge: tell the API server where `kubectl logs/exec` must go.
            node["metadata"]["annotations"] = {
                "mkpy.io/kubelet-endpoint": f"http://127.0.0.1:{self.kubelet_port}"}
        elif self.kubelet_port:
            # HTTPS on InternalIP:port (kubelet/tls.py), found the standard way; drop a stale
            # loopback endpoint from an earlier run (null deletes it in a merge patch)
            node["metadata"]["annotations"] = {"mkpy.io/kubelet-endpoint": None}
        try:
            made = self.client.create(
                {**node, "metadata": {**node["metadata"], "annotations": {
                    k: v for k, v in (node["metadata"].get("annotations") or {}).items() if v is not None}}})
        except ApiError as exc:
            if getattr(exc, "code", None) != 409 and "AlreadyExists" not in str(exc):
                raise
            made = self.client.patch("nodes", self.node_name, {"status": node["status"]},
                                     subresource="status")
            if node["metadata"].get("annotations"):
                self.client.patch("nodes", self.node_name,
                                  {"metadata": {"annotations": node["metadata"]["annotations"]}})
        self._node_uid = made["metadata"].get("uid", "")
        return made

    def _check_pressure(self) -> dict[str, bool]:
        if self.pressure is None:
            self.pressure = eviction.PressureMonitor()
        try:
            return self.pressure.check()
        except OSError:
            log.warning("measuring node pressure failed", exc_info=True)
            return {c: self._reported.get(c, {}).get("status") == "True" for c in eviction.CONDITIONS}

    def pressure_conditions(self) -> list[dict]:
        """MemoryPressure, DiskPressure, PIDPressure measured now; lastTransitionTime moves only
        when the status does."""
        now = _now()
        out = []
        for ctype, pressure in self._check_pressure().items():
            before = self._reported.get(ctype)
            same = before is not None and before["status"] == ("True" if pressure else "False")
            since = before["lastTransitionTime"] if same else None
            out.append(eviction.condition(ctype, pressure, now, since))
        self._reported = {c["type"]: c for c in out}
        return out

    def _pressure_changed(self) -> bool:
        return any((self._reported.get(c, {}).get("status") == "True") != p
                   for c, p in self._check_pressure().items())

    def renew_lease(self) -> dict:
        from minikube_py.api.errors import ApiError

        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.node_name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_DURATION,
                          "renewTime": _micro_now()}}
        try:
            return self.client.patch("leases", self.node_name, {"spec": lease["spec"]}, "kube-node-lease")
        except ApiError as exc:
            if getattr(exc, "code", None) != 404 and "NotFound" not in str(exc):
                raise
        return self.client.create(lease)

    def _heartbeat_loop(self) -> None:
        last_status = time.monotonic()
        while not self._stop.is_set():
            try:
                self.renew_lease()
                if time.monotonic() - last_status >= STATUS_REPORT or self._pressure_changed():
                    self.register_node()
                    last_status = time.monotonic()
            except Exception:
                log.warning("heartbeat failed", exc_info=True)
            self._stop.wait(LEASE_RENEW)

    # -- pods bound to this node ---------------------------------------------------------
    @staticmethod
    def _is_mirror(pod: dict) -> bool:
        return "kubernetes.io/config.mirror" in ((pod.get("metadata") or {}).get("annotations") or {})

    @staticmethod
    def _prepare(pod: dict) -> dict:
        # The API server has defaulted and validated it already; fill what we rely on.
        pod = podspec.default_pod(pod)
        pod.pop("status", None)
        return pod

    def pods_for_node(self) -> dict[str, dict]:
        # Mirror pods are our own report of static pods, not work to do.
        return {p["metadata"]["uid"]: self._prepare(p) for p in self.informer.list()
                if not self._is_mirror(p)}

    # -- what the kubelet reports ----------------------------------------------------------
    def update_pod_status(self, pod: dict, status: dict) -> None:
        if self._is_static(pod):
            self._ensure_mirror(pod)
        try:
            self.client.patch("pods", pod["metadata"]["name"], {"status": status},
                              pod["metadata"].get("namespace"), subresource="status")
        except Exception:
            log.info("status update of %s failed", pod["metadata"]["name"], exc_info=True)

    def record_event(self, event: dict) -> None:
        from minikube_py.api.errors import ApiError

        try:
            self.client.create(event)
        except ApiError as exc:
            if "AlreadyExists" in str(exc) or getattr(exc, "code", None) == 409:
                try:
                    self.client.patch("events", event["metadata"]["name"],
                                      {"count": event["count"], "lastTimestamp": event["lastTimestamp"]},
                                      event["metadata"]["namespace"])
                except Exception:  # noqa: BLE001 - events are best effort, as in kubelet
                    pass
        except Exception:  # noqa: BLE001
            pass

    @staticmethod
    def _is_static(pod: dict) -> bool:
        return (pod["metadata"].get("annotations") or {}).get("kubernetes.io/config.source") == "file"

    def _ensure_mirror(self, pod: dict) -> None:
        """Create the static pod's mirror in the API unless it is there already."""
        from minikube_py.api.errors import ApiError

        meta = pod["metadata"]
        ann = dict(meta.get("annotations") or {})
        ann["kubernetes.io/config.mirror"] = ann.get("kubernetes.io/config.hash", meta["uid"])
        owner = [{"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": self._node_uid,
                  "controller": True}] if self._node_uid else []
        mirror = {"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": meta["name"], "namespace": meta.get("namespace", "default"),
                               "labels": dict(meta.get("labels") or {}), "annotations": ann,
                               "ownerReferences": owner},
                  "spec": pod["spec"]}
        try:
            self.client.create(mirror)
        except ApiError as exc:
            if getattr(exc, "code", None) != 409 and "AlreadyExists" not in str(exc):
                log.info("mirror pod for %s: %s", meta["name"], exc)

    def pod_deleted(self, pod: dict) -> None:
        """After a graceful termination, remove the API object for good (grace 0); for a static
        pod, its mirror."""
        meta = pod["metadata"]
        if self._is_static(pod):
            from minikube_py.api.errors import ApiError

            try:
                self.client.delete("pods", meta["name"], meta.get("namespace"), grace_period_seconds=0)
            except ApiError:
                pass
            return
        if not meta.get("deletionTimestamp"):
            return
        from minikube_py.api.errors import ApiError

        try:
            self.client.delete("pods", meta["name"], meta.get("namespace"), grace_period_seconds=0,
                               preconditions={"uid": meta["uid"]})
        except ApiError:
            pass
