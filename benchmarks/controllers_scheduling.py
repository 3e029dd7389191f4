"""How fast do the loops turn API writes into placed pods?

Against the real API server (SQLite in a tmp dir, in this process), with 10 Node objects:
  baseline   create N pods that already name their node (what the API alone costs)
  scheduler  create N pending pods; the Scheduler binds them all
  deployment create one Deployment of N replicas; ControllerManager + Scheduler create,
             and bind its N pods
Prints seconds, pods/s, and the ratio to the baseline measured in the same run.

    /opt/mkpy/venv/bin/python benchmarks/controllers_scheduling.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time

from minikube_py.api.testing import ThreadedApiServer
from minikube_py.controllers.manager import ControllerManager
from minikube_py.scheduler import Scheduler

NODES = [f"mkpyt-ctl-bench-{i}" for i in range(10)]


def node(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(name: str, node_name: str | None = None) -> dict:
    spec: dict = {
        "containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}]
    }
    if node_name:
        spec["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def bound(client, prefix: str) -> int:
    return sum(
        1
        for p in client.list("pods", "default")["items"]
        if p["metadata"]["name"].startswith(prefix) and p["spec"].get("nodeName")
    )


def wait_bound(client, prefix: str, n: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while bound(client, prefix) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"{prefix}: only {bound(client, prefix)}/{n} bound after {timeout}s")
        time.sleep(0.05)


def fresh_cluster(tmp: str, name: str) -> ThreadedApiServer:
    server = ThreadedApiServer(f"sqlite://{tmp}/{name}.db").start()
    for n in NODES:
        server.client.create(node(n))
    return server


def case_baseline(c, n: int) -> None:
    for i in range(n):
        c.create(pod(f"base-{i}", NODES[i % len(NODES)]))


def case_scheduler(c, n: int) -> None:
    for i in range(n):
        c.create(pod(f"sched-{i}"))
    wait_bound(c, "sched-", n)


def case_deployment(c, n: int) -> None:
    c.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "dep", "namespace": "default"},
            "spec": {
                "replicas": n,
                "selector": {"matchLabels": {"app": "dep"}},
                "template": {"metadata": {"labels": {"app": "dep"}}, "spec": pod("x")["spec"]},
            },
        }
    )
    wait_bound(c, "dep-", n)


def main(n: int) -> None:
    """Each case on a fresh server with 10 empty nodes, so they compare like with like."""
    times = {}
    with tempfile.TemporaryDirectory(prefix="mkpyt-ctl-bench-") as tmp:
        for name, fn, loops in (
            ("baseline", case_baseline, ()),
            ("scheduler", case_scheduler, ("sched",)),
            ("deployment", case_deployment, ("sched", "cm")),
        ):
            server = fresh_cluster(tmp, name)
            sched = Scheduler() if "sched" in loops else None
            cm = ControllerManager(controllers=("deployment", "replicaset")) if "cm" in loops else None
            try:
                if sched:
                    sched.start(server.client)
                if cm:
                    cm.start(server.client)
                t = time.perf_counter()
                fn(server.client, n)
                times[name] = time.perf_counter() - t
            finally:
                if cm:
                    cm.stop()
                if sched:
                    sched.stop()
                server.stop()
    print(f"pods: {n}, nodes: {len(NODES)}")
    print(f"{'case':<12}{'seconds':>10}{'pods/s':>10}{'x baseline':>12}")
    for name, secs in times.items():
        print(f"{name:<12}{secs:>10.2f}{n / secs:>10.1f}{secs / times['baseline']:>12.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
