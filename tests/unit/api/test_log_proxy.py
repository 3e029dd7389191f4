"""pods/log is proxied to the pod's kubelet. The kubelet here is a stand-in HTTP endpoint on a
unix socket that serves /containerLogs like the real one (the kubelet work provides the real one)."""

from __future__ import annotations

import asyncio
import subprocess
import threading

import pytest
from aiohttp import web

from minikube_py.api import auth
from minikube_py.api.errors import ApiError
from minikube_py.api.nodeproxy import kubelet_endpoint, pick_container
from minikube_py.api.testing import ThreadedApiServer


class StandInKubelet:
    def __init__(self, path: str) -> None:
        self.path = path
        self.requests: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait(10)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(str(request.rel_url))
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        for i in range(3):
            await resp.write(f"line {i} from {request.match_info['container']}\n".encode())
        await resp.write_eof()
        return resp

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.logs)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.UnixSite(self.runner, self.path).start())
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def test_pick_container_and_endpoint():
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    with pytest.raises(ApiError, match=r"choose one of: \[a b\]"):
        pick_container(pod, None)
    assert pick_container(pod, "b") == "b"
    pod["metadata"]["annotations"] = {"kubectl.kubernetes.io/default-container": "b"}
    assert pick_container(pod, None) == "b"
    node = {
        "metadata": {"name": "n"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    }
    assert kubelet_endpoint(node) == "https://10.0.0.2:10250"


def test_logs_stream_from_the_kubelet(tmp_path):
    kubelet = StandInKubelet(str(tmp_path / "kubelet.sock"))
    try:
        ca, cert, key = auth.ensure_serving_cert(str(tmp_path / "pki"))
        with ThreadedApiServer(f"sqlite://{tmp_path}/s.db", tls_cert=cert, tls_key=key) as api:
            c = api.client
            c.create(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": "n1",
                        "annotations": {"mkpy.io/kubelet-endpoint": f"unix://{tmp_path}/kubelet.sock"},
                    },
                }
            )
            c.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "web"},
                    "spec": {"containers": [{"name": "app", "image": "busybox"}]},
                }
            )
            with pytest.raises(ApiError) as err:
                c.request("GET", "/api/v1/namespaces/default/pods/web/log")
            assert "does not have a host assigned" in err.value.message
            c.bind("default", "web", "n1")
            text = c.request("GET", "/api/v1/namespaces/default/pods/web/log", query={"tailLines": 3})
            assert text == "line 0 from app\nline 1 from app\nline 2 from app\n"
            assert kubelet.requests == ["/containerLogs/default/web/app?tailLines=3"]
            # And through real kubectl:
            # (kubectl sends its token only over TLS, so this server has a certificate.)
            kc = auth.write_kubeconfig(str(tmp_path / "kc"), api.url, api.token, ca)
            out = subprocess.run(
                ["kubectl", "--kubeconfig", kc, "logs", "web"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.stdout == "line 0 from app\nline 1 from app\nline 2 from app\n", out.stderr
    finally:
        kubelet.stop()
