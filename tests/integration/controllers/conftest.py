"""A control plane without kubelets: the real API server (SQLite in a tmp dir, 127.0.0.1 on a
free port), the ControllerManager and the Scheduler, three Node objects, and a stand-in
kubelet the tests drive step by step (patch pod status Ready, finish pod deletions)."""

from __future__ import annotations

import threading
import time

import pytest
from waiting import wait_for as _wait_for

from minikube_py.api.testing import ThreadedApiServer
from minikube_py.controllers.manager import ControllerManager
from minikube_py.k8s.meta import micro_rfc3339
from minikube_py.scheduler import Scheduler

NODES = ("mkpyt-ctl-n1", "mkpyt-ctl-n2", "mkpyt-ctl-n3")


def node_body(name: str, cpu: str = "2", memory: str = "2Gi", taints: list | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"taints": taints} if taints else {},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                }
            ],
        },
    }


def wait_for(pred, timeout: float = 20.0, what: str = "condition"):
    """Poll (no fixed sleeps): return pred()'s first truthy value, or fail naming `what`."""
    return _wait_for(what, pred, timeout, interval=0.02)


class Kubelet:
    """What the tests have instead of kubelets: makes bound pods Running+Ready (some per
    step), gives them IPs, and finishes graceful deletions."""

    def __init__(self, client) -> None:
        self.client = client
        self.next_ip = 10

    def pods(self, namespace: str = "default") -> list[dict]:
        return self.client.list("pods", namespace)["items"]

    @staticmethod
    def ready(pod: dict) -> bool:
        return any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )

    def ready_count(self, namespace: str = "default", selector: dict | None = None) -> int:
        return sum(
            1
            for p in self.pods(namespace)
            if self.ready(p)
            and not p["metadata"].get("deletionTimestamp")
            and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in (selector or {}).items())
        )

    def finish_deletions(self, namespace: str = "default") -> int:
        n = 0
        for p in self.pods(namespace):
            if p["metadata"].get("deletionTimestamp"):
                try:
                    self.client.delete("pods", p["metadata"]["name"], namespace, grace_period_seconds=0)
                    n += 1
                except Exception:  # noqa: BLE001 - already gone is fine
                    pass
        return n

    def set_ready(self, pod: dict, ready: bool = True) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            ip = f"10.244.0.{self.next_ip}"
            self.next_ip += 1
        conds = [c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] not in ("Ready",)]
        conds.append({"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now})
        self.client.patch(
            "pods",
            pod["metadata"]["name"],
            {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "conditions": conds}},
            pod["metadata"]["namespace"],
            subresource="status",
        )

    def step(self, namespace: str = "default", max_ready: int = 1) -> int:
        """Finish deletions, then make up to max_ready bound, not-ready pods Ready."""
        moved = self.finish_deletions(namespace)
        for p in sorted(self.pods(namespace), key=lambda p: p["metadata"]["name"]):
            if max_ready <= 0:
                break
            if p["spec"].get("nodeName") and not self.ready(p) and not p["metadata"].get("deletionTimestamp"):
                self.set_ready(p)
                max_ready -= 1
                moved += 1
        return moved

    def renew_lease(self, node: str) -> None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": node, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": node,
                "leaseDurationSeconds": 40,
                "renewTime": micro_rfc3339(time.time()),
            },
        }
        try:
            cur = self.client.get("leases", node, "kube-node-lease")
            cur["spec"] = body["spec"]
            self.client.update(cur)
        except Exception:  # noqa: BLE001 - first renewal creates it
            self.client.create(body)


class Cluster:
    def __init__(self, server: ThreadedApiServer, cm: ControllerManager, sched: Scheduler) -> None:
        self.server, self.cm, self.scheduler = server, cm, sched
        self.client = server.client
        self.kubelet = Kubelet(self.client)
        self.alive = set(NODES)  # nodes whose "kubelet" renews its Lease
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeats, name="mkpyt-ctl-heartbeat", daemon=True)

    def _heartbeats(self) -> None:
        client = self.server.client  # its own connection
        kubelet = Kubelet(client)
        while not self._stop.is_set():
            for n in sorted(self.alive):
                try:
                    kubelet.renew_lease(n)
                except Exception:  # noqa: BLE001 - the server is stopping
                    pass
            self._stop.wait(0.3)

    def start_heartbeats(self) -> None:
        Kubelet(self.client).renew_lease(NODES[0])
        for n in NODES:
            Kubelet(self.client).renew_lease(n)
        self._beat.start()

    def stop_heartbeats(self) -> None:
        self._stop.set()
        if self._beat.is_alive():
            self._beat.join(5)

    def events(self, reason: str, namespace: str = "default") -> list[dict]:
        return [e for e in self.client.list("events", namespace)["items"] if e.get("reason") == reason]


@pytest.fixture
def cluster(tmp_path):
    server = ThreadedApiServer(f"sqlite://{tmp_path}/state.db", bookmark_interval=0.3).start()
    cm = ControllerManager(node_grace_period=1.5, pod_eviction_timeout=1.0, node_monitor_period=0.5)
    sched = Scheduler(retry_interval=0.5)
    c = Cluster(server, cm, sched)
    try:
        client = server.client
        for n in NODES:
            client.create(node_body(n))
        c.start_heartbeats()
        cm.start(server.client)
        sched.start(server.client)
        yield c
    finally:
        c.stop_heartbeats()
        sched.stop()
        cm.stop()
        server.stop()
