"""Two nodes on one machine: `mkpy up` as the control plane on 127.0.0.2 (our stand-in for a LAN
address: off loopback, so TLS + tokens), `mkpy node join` as a worker with its own kubelet, proxy,
node netns and state. Real kubelets, real pods; drain and a dead worker move the pods.

(Pod traffic *between* the two node namespaces is not wired here: each node netns is alone. The
UML cluster and the Vagrant lab put nodes on one L2 segment, where the host-gw routes apply.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from waiting import wait_for as _wait_for

from minikube_py.api.client import Client
from minikube_py.api.testing import free_port

pytestmark = pytest.mark.integration

MKPY = [sys.executable, "-m", "minikube_py"]


def run(*args: str, timeout: float = 180) -> str:
    t0 = time.monotonic()
    try:
        return _run(*args, timeout=timeout)
    finally:
        print(f"mkpy {args[0]} {args[1]}: {time.monotonic() - t0:.1f}s")


def _run(*args: str, timeout: float = 180) -> str:
    res = subprocess.run([*MKPY, *args], capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"mkpy {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def paths(base, name: str) -> list[str]:
    return [
        "--state-root", f"{base}/{name}/state", "--run-root", f"{base}/{name}/run",
        "--log-dir", f"{base}/{name}/log", "--node-name", f"mkpyt-mn-{name}",
        "--node-netns", f"mkpyt-mn-{name}", "--netns-prefix", f"mkpyt-mn-{name}-",
        "--kubelet-port", str(free_port()),
    ]  # fmt: skip


def wait_for(what, check, timeout=90.0):
    t0 = time.monotonic()
    try:
        # Any error counts as "not there yet": the node's pieces come up in their own time.
        return _wait_for(what, check, timeout, interval=0.25, retry_on=(Exception,))
    finally:
        print(f"{what}: {time.monotonic() - t0:.1f}s")


@pytest.fixture
def two_nodes(tmp_path):
    from minikube_py.image import baseimage

    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = str(tmp_path)
    for n in ("cp", "w1"):  # busybox, built offline, in each node's image store
        assert baseimage.main(["--root", f"{base}/{n}/state"]) == 0
    port = free_port()
    kc = f"{base}/admin.kubeconfig"
    started = []
    try:
        started.append("cp")
        run(
            "up", *paths(base, "cp"), "--kubeconfig", kc, "--api-port", str(port),
            "--advertise-address", "127.0.0.2", "--lb-pool", "192.168.77.200-192.168.77.205",
            # kubelets renew their lease every 10 s: a shorter grace period would flap
            "--node-monitor-grace-period", "15", "--pod-eviction-timeout", "2",
        )  # fmt: skip
        line = run("token", "create", "--kubeconfig", kc, "--print-join-command")
        words = line.split()
        assert words[:4] == ["mkpy", "node", "join", "--server"] and words[4] == f"https://127.0.0.2:{port}"
        started.append("w1")
        out = run(*words[1:], *paths(base, "w1"), "--lb-pool", "192.168.77.206-192.168.77.210")
        assert "pod CIDR 10.244.1.0/24" in out
        yield Client.from_kubeconfig(kc), kc, base
    finally:
        for n in reversed(started):
            subprocess.run([*MKPY, "down", "--run-root", f"{base}/{n}/run"], capture_output=True, timeout=180)


def deployment(name: str, replicas: int) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {"name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                         "command": ["sleep", "3600"]}
                    ],
                },
            },
        },
    }  # fmt: skip


def running(client, app: str) -> dict[str, list[str]]:
    """node -> pod IPs of the Running, not-terminating pods."""
    out: dict[str, list[str]] = {}
    for p in client.list("pods", "default", label_selector=f"app={app}")["items"]:
        if p["metadata"].get("deletionTimestamp") or (p.get("status") or {}).get("phase") != "Running":
            continue
        out.setdefault(p["spec"]["nodeName"], []).append(p["status"].get("podIP", ""))
    return out


def test_join_drain_and_a_dead_worker(two_nodes):
    client, kc, base = two_nodes
    nodes = {n["metadata"]["name"]: n for n in client.list("nodes")["items"]}
    assert {n: v["spec"].get("podCIDR") for n, v in nodes.items()} == {
        "mkpyt-mn-cp": "10.244.0.0/24",
        "mkpyt-mn-w1": "10.244.1.0/24",
    }
    # the worker's agents use their own credential, which may not read kube-system Secrets
    node_client = Client.from_kubeconfig(f"{base}/w1/state/node.kubeconfig")
    with pytest.raises(Exception, match="forbidden"):
        node_client.list("secrets", "kube-system")

    # drain the control plane: every pod runs on the worker, with an address from its /24
    client.create(deployment("web", 3))
    wait_for("3 running pods", lambda: sum(map(len, running(client, "web").values())) == 3)
    run("node", "drain", "mkpyt-mn-cp", "--kubeconfig", kc, "--ignore-daemonsets", "--timeout", "60")
    got = wait_for("3 pods on w1", lambda: (r := running(client, "web")) and list(r) == ["mkpyt-mn-w1"]
                   and len(r["mkpyt-mn-w1"]) == 3 and r)  # fmt: skip
    assert all(ip.startswith("10.244.1.") for ip in got["mkpyt-mn-w1"]), got
    run("node", "uncordon", "mkpyt-mn-cp", "--kubeconfig", kc)

    # the worker stops for good: NotReady, and after the eviction timeout its pods come back on cp
    subprocess.run(
        [*MKPY, "down", "--run-root", f"{base}/w1/run"], capture_output=True, timeout=180, check=True
    )
    wait_for(
        "w1 NotReady",
        lambda: any(c["type"] == "Ready" and c["status"] != "True"
                    for c in client.get("nodes", "mkpyt-mn-w1")["status"]["conditions"]),
    )  # fmt: skip
    got = wait_for("3 pods back on cp", lambda: (r := running(client, "web")) and list(r) == ["mkpyt-mn-cp"]
                   and len(r["mkpyt-mn-cp"]) == 3 and r)  # fmt: skip
    assert all(ip.startswith("10.244.0.") for ip in got["mkpyt-mn-cp"]), got
