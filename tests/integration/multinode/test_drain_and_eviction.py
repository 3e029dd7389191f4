"""Drain and the node lifecycle against the real API server, controller-manager and scheduler.

No kubelets: the test plays them (nodes with a Ready condition, leases it renews), so it runs in
seconds; what is exercised is the API's eviction subresource and the real control loops."""

from __future__ import annotations

import threading
import time

import pytest
from click.testing import CliRunner
from waiting import wait_for as _wait_for

from minikube_py.api import auth
from minikube_py.api.testing import ThreadedApiServer
from minikube_py.cli.main import cli
from minikube_py.controllers.manager import ControllerManager
from minikube_py.k8s.meta import micro_rfc3339, now_rfc3339
from minikube_py.scheduler import Scheduler

pytestmark = pytest.mark.integration


def wait_for(what, check, timeout=30.0):
    return _wait_for(what, check, timeout)


def ready_node(name: str) -> dict:
    t = now_rfc3339(time.time())
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "lastHeartbeatTime": t, "lastTransitionTime": t}
            ],
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        },
    }


class Kubelets:
    """Stand-ins that keep their nodes' leases fresh (until told to stop: a node 'dies')."""

    def __init__(self, client, names):
        self.client, self.alive = client, set(names)
        self.stop = threading.Event()
        for n in names:
            made = client.create(ready_node(n))
            client.update({**made, "status": ready_node(n)["status"]}, "status")
            client.create(
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": n, "namespace": "kube-node-lease"},
                    "spec": {"holderIdentity": n, "renewTime": micro_rfc3339(time.time())},
                }
            )
        self.thread = threading.Thread(target=self._renew, daemon=True)
        self.thread.start()

    def _renew(self):
        while not self.stop.wait(0.2):
            for n in list(self.alive):
                try:
                    self.client.patch(
                        "leases", n, {"spec": {"renewTime": micro_rfc3339(time.time())}}, "kube-node-lease"
                    )
                except Exception:  # noqa: BLE001 - the server may be stopping
                    pass


@pytest.fixture
def cluster(tmp_path):
    api = ThreadedApiServer(f"sqlite://{tmp_path}/state.db", token="mkpyt-mn-admin").start()
    client = api.client
    cm = ControllerManager(node_grace_period=1.0, pod_eviction_timeout=1.0, node_monitor_period=0.2)
    sched = Scheduler()
    kubelets = Kubelets(client, ["mkpyt-mn-n1", "mkpyt-mn-n2"])
    cm.start(api.client)
    sched.start(api.client)
    kc = auth.write_kubeconfig(str(tmp_path / "admin.kubeconfig"), api.url, api.token)
    try:
        yield client, kubelets, kc
    finally:
        kubelets.stop.set()
        sched.stop()
        cm.stop()
        api.stop()


def replicaset(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "c", "image": "busybox"}],
                    "terminationGracePeriodSeconds": 0,
                },
            },
        },
    }


def live_pods_by_node(client, app):
    out: dict[str, int] = {}
    for p in client.list("pods", "default", label_selector=f"app={app}")["items"]:
        if p["metadata"].get("deletionTimestamp"):
            continue
        node = p["spec"].get("nodeName") or "<none>"
        out[node] = out.get(node, 0) + 1
    return out


def test_node_ipam_assigns_each_node_a_slice(cluster):
    client, _, _ = cluster
    got = wait_for(
        "pod CIDRs",
        lambda: (
            {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in client.list("nodes")["items"]}
            if all(n["spec"].get("podCIDR") for n in client.list("nodes")["items"])
            else None
        ),
    )
    assert sorted(got.values()) == ["10.244.0.0/24", "10.244.1.0/24"]


def test_cordon_drain_uncordon(cluster):
    client, _, kc = cluster
    run = CliRunner()
    client.create(replicaset("web", 4))
    wait_for(
        "4 scheduled pods",
        lambda: sum(v for k, v in live_pods_by_node(client, "web").items() if k != "<none>") == 4,
    )
    # pods drain must refuse, skip or force
    client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "lonely", "namespace": "default"},
            "spec": {"nodeName": "mkpyt-mn-n1", "containers": [{"name": "c", "image": "busybox"}]},
        }
    )
    client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "static-mkpyt-mn-n1",
                "namespace": "default",
                "annotations": {"kubernetes.io/config.mirror": "abc"},
            },
            "spec": {"nodeName": "mkpyt-mn-n1", "containers": [{"name": "c", "image": "busybox"}]},
        }
    )
    out = run.invoke(cli, ["node", "cordon", "--kubeconfig", kc, "mkpyt-mn-n1"])
    assert out.exit_code == 0 and "cordoned" in out.output
    assert client.get("nodes", "mkpyt-mn-n1")["spec"]["unschedulable"] is True

    out = run.invoke(cli, ["node", "drain", "--kubeconfig", kc, "mkpyt-mn-n1", "--grace-period", "0"])
    assert out.exit_code == 1 and "default/lonely: not managed by a controller (use --force)" in out.output
    assert client.get("pods", "lonely")  # nothing was evicted

    out = run.invoke(
        cli,
        [
            "node",
            "drain",
            "--kubeconfig",
            kc,
            "mkpyt-mn-n1",
            "--force",
            "--grace-period",
            "0",
            "--timeout",
            "30",
        ],
    )
    assert out.exit_code == 0, out.output
    assert (
        "static-mkpyt-mn-n1: a mirror (static) pod" in out.output and "node/mkpyt-mn-n1 drained" in out.output
    )
    # the ReplicaSet re-created its pods, and the scheduler put them on the other node
    wait_for("4 pods on n2", lambda: live_pods_by_node(client, "web").get("mkpyt-mn-n2") == 4)
    assert "mkpyt-mn-n1" not in live_pods_by_node(client, "web")

    out = run.invoke(cli, ["node", "uncordon", "--kubeconfig", kc, "mkpyt-mn-n1"])
    assert out.exit_code == 0 and "unschedulable" not in client.get("nodes", "mkpyt-mn-n1")["spec"]
    out = run.invoke(cli, ["node", "drain", "--kubeconfig", kc, "mkpyt-mn-nope"])
    assert out.exit_code == 1 and 'node "mkpyt-mn-nope" not found' in out.output


def test_a_silent_node_goes_not_ready_and_its_pods_come_back_elsewhere(cluster):
    client, kubelets, _ = cluster
    client.create(replicaset("api", 4))
    wait_for("pods on both nodes", lambda: len(live_pods_by_node(client, "api")) == 2)
    kubelets.alive.discard("mkpyt-mn-n1")  # n1 "loses power"

    def ready_status():
        n = client.get("nodes", "mkpyt-mn-n1")
        return next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready")

    wait_for("n1 Unknown", lambda: ready_status() == "Unknown")
    taints = {t["key"] for t in client.get("nodes", "mkpyt-mn-n1")["spec"].get("taints", [])}
    assert "node.kubernetes.io/unreachable" in taints
    # after the (1 s) eviction timeout the pods are deleted and re-created on n2
    wait_for("4 pods on n2", lambda: live_pods_by_node(client, "api") == {"mkpyt-mn-n2": 4})
    reasons = {e["reason"] for e in client.list("events", "default")["items"]}
    assert "TaintManagerEviction" in reasons
