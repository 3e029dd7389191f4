"""A cluster for `mkpy`'s kubectl verbs and for real kubectl to compare against.

- our API server over TLS (SQLite in a tmp dir, 127.0.0.1 on a free port) + an admin kubeconfig;
- the ControllerManager and the Scheduler from main (Deployments really roll out);
- one Node whose kubelet is a stand-in: an aiohttp app on 127.0.0.1 serving the kubelet's
  `/containerLogs` (from CRI-format files the test writes) and `/exec` (plain processes in a tmp
  dir) with minikube_py.kubelet.streaming — no root, images or network namespaces needed;
- a "pod runner" thread doing the kubelet's API part: bound pods become Running+Ready, pods
  being deleted are confirmed gone.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from aiohttp import web
from aioserver import ThreadedAiohttpApp
from waiting import wait_for as _wait_for

from minikube_py.api import auth
from minikube_py.api.testing import ThreadedApiServer
from minikube_py.controllers.manager import ControllerManager
from minikube_py.kubelet import streaming as kstreaming
from minikube_py.scheduler import Scheduler

NODE = "mkpyt-cli-node"
SEED = "/work/shared/examples/seed"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StandInKubelet(ThreadedAiohttpApp):
    """/containerLogs/NS/POD/CONTAINER from <dir>/<pod>_<container>.log; /exec/... runs processes."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        super().__init__("mkpyt-cli-kubelet")

    def log_path(self, pod: str, container: str) -> str:
        return os.path.join(self.workdir, f"{pod}_{container}.log")

    def write(self, pod: str, container: str, *lines: str) -> None:
        """Append lines in the CRI log format the kubelet keeps (`TIME stdout F text`)."""
        with open(self.log_path(pod, container), "a") as f:
            for line in lines:
                f.write(f"{now()} stdout F {line}\n")

    def restart(self, pod: str, container: str) -> None:
        """The container's new instance writes a new log; the old one is what --previous reads."""
        path = self.log_path(pod, container)
        os.replace(path, path + ".prev")
        open(path, "w").close()

    def app(self) -> web.Application:
        async def logs(request: web.Request) -> web.StreamResponse:
            pod, ctr = request.match_info["pod"], request.match_info["container"]
            path = self.log_path(pod, ctr)
            if request.query.get("previous") == "true":
                path += ".prev"
            # A follow ends when the container restarts (its log file is replaced), as on a kubelet.
            inode = os.stat(path).st_ino if os.path.exists(path) else None
            return await kstreaming.serve_log_file(
                request, path, running=lambda: os.path.exists(path) and os.stat(path).st_ino == inode
            )

        async def exec_(request: web.Request) -> web.StreamResponse:
            return await kstreaming.serve_exec(
                request, request.query.getall("command"), cwd=self.workdir, env={"PATH": os.environ["PATH"]}
            )

        async def port_forward(request: web.Request) -> web.StreamResponse:
            # "Inside the pod" is the host's loopback here: the test's own little server.
            return await kstreaming.serve_portforward(
                request, int(request.query["ports"]), lambda p: socket.create_connection(("127.0.0.1", p), 5)
            )

        app = web.Application()
        app.router.add_route("*", "/portForward/{ns}/{pod}", port_forward)
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", logs)
        app.router.add_route("*", "/exec/{ns}/{pod}/{container}", exec_)
        return app


class PodRunner:
    """The API half of a kubelet: bound pods -> Running and Ready; deletions confirmed."""

    def __init__(self, api: ThreadedApiServer) -> None:
        self.client = api.client
        self.stop_event = threading.Event()
        self.watch = None
        self.thread = threading.Thread(target=self._run, name="mkpyt-cli-podrunner", daemon=True)
        self.next_ip = 10

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                listed = self.client.list("pods", None)
                for p in listed["items"]:
                    self.handle(p)
                self.watch = self.client.watch(
                    "pods", None, resource_version=listed["metadata"]["resourceVersion"]
                )
                for ev in self.watch:
                    if ev["type"] in ("ADDED", "MODIFIED"):
                        self.handle(ev["object"])
            except Exception:  # noqa: BLE001 - the server is going away, or a race: list again
                self.stop_event.wait(0.1)

    def handle(self, pod: dict) -> None:
        meta, spec, st = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        if not spec.get("nodeName") or (meta.get("labels") or {}).get("mkpyt-manual"):
            return
        if meta.get("deletionTimestamp"):
            self.client.delete("pods", meta["name"], meta["namespace"], grace_period_seconds=0)
            return
        if st.get("phase") == "Running":
            return
        t = now()
        ip = f"10.244.0.{self.next_ip}"
        self.next_ip += 1
        self.client.patch(
            "pods",
            meta["name"],
            {
                "status": {
                    "phase": "Running",
                    "hostIP": "127.0.0.1",
                    "podIP": ip,
                    "podIPs": [{"ip": ip}],
                    "startTime": t,
                    "conditions": [
                        {"type": "Ready", "status": "True", "lastTransitionTime": t},
                        {"type": "ContainersReady", "status": "True", "lastTransitionTime": t},
                        {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
                    ],
                    "containerStatuses": [
                        {
                            "name": c["name"],
                            "ready": True,
                            "started": True,
                            "restartCount": 0,
                            "image": c["image"],
                            "imageID": "",
                            "containerID": f"mkpy://{meta['name']}-{c['name']}",
                            "state": {"running": {"startedAt": t}},
                        }
                        for c in spec.get("containers") or []
                    ],
                }
            },
            meta["namespace"],
            subresource="status",
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.watch is not None:
            self.watch.stop()
        self.thread.join(10)


class Cluster:
    def __init__(self, tmp, kubeconfig: str, api: ThreadedApiServer, kubelet: StandInKubelet) -> None:
        self.tmp, self.kubeconfig, self.api, self.kubelet = tmp, kubeconfig, api, kubelet
        self.client = api.client

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "MKPY_DEBUG")} | {
            "KUBECONFIG": self.kubeconfig,
            "COLUMNS": "200",
        }

    def mkpy(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60):
        proc = subprocess.run(
            [sys.executable, "-m", "minikube_py.cli.main", *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            env=self.env(),
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        if check and proc.returncode != 0:
            pytest.fail(f"mkpy {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60):
        proc = subprocess.run(
            ["kubectl", *args], capture_output=True, text=True, input=input, timeout=timeout, env=self.env()
        )
        if check and proc.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def popen_mkpy(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "minikube_py.cli.main", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(),
        )


def wait_for(pred, timeout: float = 30.0, what: str = "condition"):
    return _wait_for(what, pred, timeout, interval=0.05)


_AGE = re.compile(r"(?<!\S)(?:\d+[smhd])+(?: \(x\d+ over (?:\d+[smhd])+\))?(?=\s|$)")


def normalize(text: str) -> list[list[str]]:
    """Rows of cells with ages blanked: kubectl and mkpy may run a second apart."""
    return [re.split(r"\s{2,}", _AGE.sub("AGE", line.rstrip())) for line in text.rstrip("\n").split("\n")]


def same_as_kubectl(cluster, *args: str, attempts: int = 3):
    """mkpy's output (ages blanked) equals kubectl's for the same command. Controllers may replace
    a pod between the two runs, so a mismatch is retried a few times before it counts."""
    for _ in range(attempts):
        k = cluster.kubectl(*args)
        m = cluster.mkpy(*args)
        if normalize(m.stdout) == normalize(k.stdout):
            return m
    assert normalize(m.stdout) == normalize(k.stdout), (args, m.stdout, k.stdout)
    return m


def aligned(text: str) -> bool:
    """Every row's cells start where the header's do (what Go's tabwriter guarantees)."""
    lines = [line for line in text.rstrip("\n").split("\n")]
    blocks: list[list[str]] = [[]]
    for line in lines:
        if not line:
            blocks.append([])
        else:
            blocks[-1].append(line)
    for block in blocks:
        if not block:
            continue
        starts = [m.start() for m in re.finditer(r"(?:^|(?<=\s{3}))\S", block[0])]
        for row in block[1:]:
            for s in starts:
                if s >= len(row) or row[s] == " " or (s > 0 and row[s - 1] != " "):
                    return False
    return True


@pytest.fixture(scope="package")
def cluster(tmp_path_factory):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    tmp = tmp_path_factory.mktemp("mkpyt-cli")
    ca, cert, key = auth.ensure_serving_cert(str(tmp / "pki"))
    api = ThreadedApiServer(f"sqlite://{tmp}/state.db", tls_cert=cert, tls_key=key, bookmark_interval=0.3)
    api.start()
    logdir = tmp / "kubelet"
    logdir.mkdir()
    kubelet = StandInKubelet(str(logdir))
    cm = ControllerManager(controllers=("deployment", "replicaset", "endpoints", "garbagecollector"))
    sched = Scheduler(retry_interval=0.5)
    runner = PodRunner(api)
    try:
        port = kubelet.start()
        kc = auth.write_kubeconfig(str(tmp / "admin.kubeconfig"), api.url, api.token, ca)
        api.client.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": NODE,
                    "labels": {"kubernetes.io/hostname": NODE},
                    "annotations": {"mkpy.io/kubelet-endpoint": f"http://127.0.0.1:{port}"},
                },
                "status": {
                    "capacity": {"cpu": "2", "memory": "2Gi", "pods": "110"},
                    "allocatable": {"cpu": "2", "memory": "2Gi", "pods": "110"},
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                            "lastTransitionTime": "2026-01-01T00:00:00Z",
                        }
                    ],
                },
            }
        )
        cm.start(api.client)
        sched.start(api.client)
        runner.start()
        yield Cluster(tmp, kc, api, kubelet)
    finally:
        runner.stop()
        sched.stop()
        cm.stop()
        kubelet.stop()
        api.stop()
