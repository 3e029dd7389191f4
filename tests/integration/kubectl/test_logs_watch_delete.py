"""kubectl logs (--tail, --previous, -f on a deployment), get -w with Table rows in watch events,
and a graceful delete kubectl waits for — with kubectl 1.20 and the newest bundled one."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time

import pytest

from .conftest import NEWEST, POD, _pod, make_running


@pytest.fixture(params=["1.20", "newest"])
def binary(request, cluster):
    return request.getfixturevalue("kubectl_120") if request.param == "1.20" else NEWEST


def _cri(path, *lines: str) -> None:
    with open(path, "a") as f:
        for line in lines:
            f.write(f"2026-01-01T00:00:00.000000000Z stdout F {line}\n")


class Lines:
    """A long-running kubectl whose output we read line by line."""

    def __init__(self, cluster, binary: str, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        self.proc = subprocess.Popen(
            [binary, "--kubeconfig", cluster.kubeconfig, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.q: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.q.put(x) for x in self.proc.stdout], daemon=True).start()

    def next(self, timeout: float = 20) -> str:
        return self.q.get(timeout=timeout).rstrip("\n")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)


def test_logs_tail_previous_and_follow_a_deployment(cluster, binary, tmp_path):
    current, previous = tmp_path / "app.log", tmp_path / "app-0.log"
    _cri(current, "one", "two", "three")
    _cri(previous, "crashed before")
    cluster.kubelet.logs = {("app", False): str(current), ("app", True): str(previous)}
    assert cluster.kubectl(binary, "logs", POD, "--tail=2").stdout == "two\nthree\n"
    assert cluster.kubectl(binary, "logs", POD, "--previous").stdout == "crashed before\n"

    c = cluster.api.client
    if not c.list("deployments", "default", label_selector=f"app={POD}")["items"]:
        labels = {"app": POD}
        c.create(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "mkpyt-kc-dep", "labels": labels},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "app", "image": "busybox:latest"}]},
                    },
                },
            }
        )
    follow = Lines(cluster, binary, "logs", "-f", "deployment/mkpyt-kc-dep")  # kubectl picks the pod
    try:
        assert [follow.next() for _ in range(3)] == ["one", "two", "three"]
        _cri(current, "four")  # written after kubectl started following
        assert follow.next() == "four"
    finally:
        follow.stop()


def test_get_watch_prints_table_rows(cluster, binary):
    c = cluster.api.client
    name = f"mkpyt-kc-w{int(time.monotonic() * 1000) % 100000}"
    c.create(_pod(name, ["app"]))
    watch = Lines(cluster, binary, "get", "pods", "-w", "-l", f"app={name}")
    try:
        assert watch.next().split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert watch.next().split()[:3] == [name, "0/1", "Pending"]
        make_running(c, name)  # two writes: the binding, then the status
        rows = [watch.next().split() for _ in range(2)]
        assert rows[-1][:4] == [name, "1/1", "Running", "0"]
    finally:
        watch.stop()


def test_graceful_delete_waits_for_the_kubelet(cluster, binary):
    """`kubectl delete pod` returns only once the pod is gone: the node's kubelet confirms with a
    grace-0 delete after stopping the containers (here: the test does, in the kubelet's place)."""
    c = cluster.api.client
    name = f"mkpyt-kc-d{int(time.monotonic() * 1000) % 100000}"
    c.create(_pod(name, ["app"]))
    make_running(c, name)
    deleting = Lines(cluster, binary, "delete", "pod", name)
    try:
        deadline = time.monotonic() + 20
        while not c.get("pods", name)["metadata"].get("deletionTimestamp"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # kubectl is now waiting for the pod to go; it must not have returned
        assert deleting.proc.poll() is None
        c.delete("pods", name, grace_period_seconds=0)
        assert deleting.next() == f'pod "{name}" deleted'
        assert deleting.proc.wait(20) == 0
    finally:
        deleting.stop()
