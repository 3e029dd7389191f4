"""Streaming figures with real kubectl: exec round trip and port-forward throughput.

    /opt/mkpy/venv/bin/python benchmarks/kubectl_stream.py [--kubectl-120 PATH] [--runs 5] [--mb 32]

For kubectl 1.20 (SPDY/3.1, our spdy.py) and the newest bundled kubectl (WebSocket for exec,
SPDY tunnelled in WebSocket for port-forward), against our API server and a stand-in kubelet
(kubelet/streaming.py running plain processes, port-forward to 127.0.0.1).

Baselines, measured in the same run: `kubectl get pod` (the same process start, TLS and discovery
without any upgrade) for exec; a direct download from the same HTTP server for port-forward.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aiohttp import web

from minikube_py.api import auth
from minikube_py.api.testing import ThreadedApiServer, free_port
from minikube_py.kubelet import streaming

NEWEST = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"


def stand_in_kubelet(workdir: str) -> tuple[int, asyncio.AbstractEventLoop, threading.Thread]:
    async def exec_(request: web.Request) -> web.StreamResponse:
        return await streaming.serve_exec(request, request.query.getall("command"), cwd=workdir)

    async def pf(request: web.Request) -> web.StreamResponse:
        return await streaming.serve_portforward(
            request, int(request.query["ports"]), lambda p: socket.create_connection(("127.0.0.1", p))
        )

    app = web.Application()
    app.router.add_route("*", "/exec/{ns}/{pod}/{c}", exec_)
    app.router.add_route("*", "/portForward/{ns}/{pod}", pf)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def up() -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    return asyncio.run_coroutine_threadsafe(up(), loop).result(10), loop, thread


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, timeout=60)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def download(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        n = len(r.read())
    return n / (time.perf_counter() - t) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubectl-120", default=os.environ.get("MKPY_KUBECTL_1_20", ""))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mb", type=int, default=32)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mkpyt-kc-bench-")
    ca, cert, key = auth.ensure_serving_cert(os.path.join(tmp, "pki"))
    api = ThreadedApiServer(f"sqlite://{tmp}/state.db", tls_cert=cert, tls_key=key).start()
    port, loop, _ = stand_in_kubelet(tmp)
    payload = os.urandom(args.mb << 20)

    class Big(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *a) -> None:
            pass

    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Big)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    pod_port = http_server.server_address[1]
    c = api.client
    c.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "bench",
                "annotations": {"mkpy.io/kubelet-endpoint": f"http://127.0.0.1:{port}"},
            },
        }
    )
    c.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "bench"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }
    )
    c.bind("default", "bench", "bench")
    running = c.get("pods", "bench")
    running["status"] = {"phase": "Running"}  # port-forward refuses a pod that is not running
    c.update_status(running)
    kc = auth.write_kubeconfig(os.path.join(tmp, "kubeconfig"), api.url, api.token, ca)
    direct = download(f"http://127.0.0.1:{pod_port}/")
    print(f"direct download from the 'pod' server: {direct:8.1f} MB/s ({args.mb} MB)")
    binaries = [("1.20 (SPDY)", args.kubectl_120), ("1.33 (WebSocket)", NEWEST)]
    for label, binary in binaries:
        if not binary or not os.path.exists(binary):
            print(f"{label}: not available")
            continue
        base = [binary, "--kubeconfig", kc]
        get = median_seconds([*base, "get", "pod", "bench"], args.runs)
        ex = median_seconds([*base, "exec", "bench", "--", "true"], args.runs)
        print(
            f"kubectl {label:17s} get pod {get * 1000:6.0f} ms   exec -- true {ex * 1000:6.0f} ms"
            f"   exec/get {ex / get:4.2f}x"
        )
        local = free_port()
        pf = subprocess.Popen(
            [*base, "port-forward", "pod/bench", f"{local}:{pod_port}"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert pf.stdout is not None and "Forwarding" in pf.stdout.readline()
            rate = download(f"http://127.0.0.1:{local}/")
        finally:
            pf.terminate()
            pf.wait(10)
        print(
            f"kubectl {label:17s} port-forward download {rate:8.1f} MB/s"
            f"   direct/forwarded {direct / rate:5.1f}x"
        )
    api.stop()
    http_server.shutdown()
    loop.call_soon_threadsafe(loop.stop)
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
