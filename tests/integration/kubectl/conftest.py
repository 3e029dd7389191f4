"""A cluster for real kubectl: our API server over TLS, one Node whose "kubelet" is a stand-in.

The stand-in kubelet is an aiohttp app serving the kubelet's streaming endpoints with
minikube_py.kubelet.streaming — commands run as plain processes in a tmp dir (no container), and
port-forward connects to 127.0.0.1 — so these tests exercise the API server's SPDY/WebSocket
proxying and the real kubectl binaries without needing root, images or a network namespace.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable

import pytest
from aiohttp import web
from aioserver import ThreadedAiohttpApp
from kubectl_binaries import NEWEST, kubectl_120  # noqa: F401  (a fixture for this suite)

from minikube_py.api import auth
from minikube_py.api.testing import ThreadedApiServer
from minikube_py.kubelet import streaming as kstreaming

NODE = "mkpyt-kc-node"
POD = "mkpyt-kc-web"


class StandInKubelet(ThreadedAiohttpApp):
    """The kubelet's HTTP endpoint for one node, on its own event loop thread."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        super().__init__("mkpyt-kc-kubelet")
        self.logs: dict[tuple[str, bool], str] = {}  # (container, previous?) -> CRI-format log file
        self.summary: Callable[[], dict] = dict  # what /stats/summary answers, set by a test

    def app(self) -> web.Application:
        async def exec_(request: web.Request) -> web.StreamResponse:
            return await kstreaming.serve_exec(
                request, request.query.getall("command"), cwd=self.workdir, env={"PATH": os.environ["PATH"]}
            )

        async def port_forward(request: web.Request) -> web.StreamResponse:
            port = int(request.query["ports"])
            return await kstreaming.serve_portforward(
                request, port, lambda p: socket.create_connection(("127.0.0.1", p), timeout=5)
            )

        async def logs(request: web.Request) -> web.StreamResponse:
            container = request.match_info["container"]
            path = self.logs.get((container, request.query.get("previous") == "true"))
            if path is None:
                raise web.HTTPBadRequest(text=f'previous terminated container "{container}" not found')
            return await kstreaming.serve_log_file(request, path)

        async def stats(request: web.Request) -> web.Response:
            return web.json_response(self.summary())

        app = web.Application()
        app.router.add_route("*", "/exec/{ns}/{pod}/{container}", exec_)
        app.router.add_route("*", "/portForward/{ns}/{pod}", port_forward)
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", logs)
        app.router.add_get("/stats/summary", stats)
        return app


class Cluster:
    def __init__(self, kubeconfig: str, api: ThreadedApiServer, kubelet: StandInKubelet) -> None:
        self.kubeconfig, self.api, self.kubelet = kubeconfig, api, kubelet

    def kubectl(
        self, binary: str, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        proc = subprocess.run(
            [binary, "--kubeconfig", self.kubeconfig, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            input=input,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc


def _pod(name: str, containers: list[str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": c, "image": "busybox:latest"} for c in containers]},
    }


def make_running(c, name: str) -> dict:
    """Bind the pod to our node and report it Running, as a kubelet would."""
    c.bind("default", name, NODE)
    pod = c.get("pods", name)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    pod["status"] = {
        "phase": "Running",
        "podIP": "10.244.0.9",
        "startTime": now,
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": ctr["name"],
                "ready": True,
                "restartCount": 0,
                "image": ctr["image"],
                "imageID": "",
                "containerID": f"mkpy://{name}-{ctr['name']}",
                "state": {"running": {"startedAt": now}},
            }
            for ctr in pod["spec"]["containers"]
        ],
    }
    return c.update_status(pod)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not os.path.exists(NEWEST):
        pytest.skip(f"{NEWEST} (the bundled kubectl) is not installed")
    tmp = tmp_path_factory.mktemp("mkpyt-kc")
    ca, cert, key = auth.ensure_serving_cert(str(tmp / "pki"))
    api = ThreadedApiServer(f"sqlite://{tmp}/state.db", tls_cert=cert, tls_key=key).start()
    workdir = tmp / "pod-root"
    workdir.mkdir()
    kubelet = StandInKubelet(str(workdir))
    try:
        port = kubelet.start()
        kc = auth.write_kubeconfig(str(tmp / "admin.kubeconfig"), api.url, api.token, ca)
        c = api.client
        c.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": NODE,
                    "annotations": {"mkpy.io/kubelet-endpoint": f"http://127.0.0.1:{port}"},
                },
                "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]},
            }
        )
        c.create(_pod(POD, ["app"]))
        make_running(c, POD)
        yield Cluster(kc, api, kubelet)
    finally:
        kubelet.stop()
        api.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
