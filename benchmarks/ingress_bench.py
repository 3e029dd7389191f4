"""What the ingress controller's extra hop costs: requests through `IngressServer` vs straight to the
same backend, on loopback (no netns, no kube-proxy: only the proxy itself is measured).

    /opt/mkpy/venv/bin/python benchmarks/ingress_bench.py [--requests 2000] [--mib 64]

Baseline, measured in the same run: the same client talking to the backend directly.
Figures: median and p99 latency of small keep-alive GETs (one client), and MiB/s of a large
upload + download. The ratios are the signal; the machine is shared, so the milliseconds are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aiohttp import web

from minikube_py.network.ingress.routing import RouteTable
from minikube_py.network.ingress.server import IngressServer


def start_backend() -> tuple[int, asyncio.AbstractEventLoop, asyncio.Event]:
    """aiohttp backend: GET / -> 'ok'; GET /big?mib=N -> N MiB; POST -> the number of bytes read.
    (Not an echo: http.client sends the whole body before it reads, so an echo of more than the
    socket buffers would deadlock any proxy, and the direct connection too.)"""
    box: dict = {}
    ready = threading.Event()

    chunk = os.urandom(1 << 20)

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            size = 0
            async for part in request.content.iter_chunked(65536):
                size += len(part)
            return web.Response(text=str(size))
        if request.path != "/big":
            return web.Response(text="ok")
        mib = int(request.query["mib"])
        resp = web.StreamResponse()
        resp.content_length = mib << 20
        await resp.prepare(request)
        for _ in range(mib):
            await resp.write(chunk)
        return resp

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{t:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["port"] = site._server.sockets[0].getsockname()[1]
        box["loop"], box["done"] = asyncio.get_running_loop(), asyncio.Event()
        ready.set()
        await box["done"].wait()
        await runner.cleanup()

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    ready.wait(10)
    return box["port"], box["loop"], box["done"]


def latencies(port: int, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", "/", headers={"Host": "bench.example.com"})
        conn.getresponse().read()
        out.append(time.perf_counter() - t)
    conn.close()
    return out


def throughput(port: int, mib: int) -> tuple[float, float]:
    """(upload MiB/s, download MiB/s) of one request each."""
    body = os.urandom(1 << 20) * mib
    conn = http.client.HTTPConnection("127.0.0.1", port)
    t = time.perf_counter()
    conn.request("POST", "/", body=body, headers={"Host": "bench.example.com"})
    got = conn.getresponse().read()
    up = mib / (time.perf_counter() - t)
    assert int(got) == len(body), "the backend got another size"
    t = time.perf_counter()
    conn.request("GET", f"/big?mib={mib}", headers={"Host": "bench.example.com"})
    size = len(conn.getresponse().read())
    down = mib / (time.perf_counter() - t)
    conn.close()
    assert size == mib << 20, "the download has another size"
    return up, down


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--mib", type=int, default=64)
    args = ap.parse_args()
    port, loop, done = start_backend()
    ing = {"metadata": {"name": "b", "namespace": "default"}, "spec": {"rules": [{"host": "bench.example.com",
           "http": {"paths": [{"path": "/", "pathType": "Prefix",
                               "backend": {"service": {"name": "s", "port": {"number": port}}}}]}}]}}
    table = RouteTable.build([ing])
    svc = {"spec": {"clusterIP": "127.0.0.1", "ports": [{"port": port}]}}
    eps = {"subsets": [{"addresses": [{"ip": "x"}], "ports": [{"port": 1}]}]}
    logging_off = __import__("logging").getLogger("mkpy.ingress")
    logging_off.disabled = True  # one log line per request would measure the logger
    server = IngressServer(lambda: table, lambda *_: svc, lambda *_: eps, ("127.0.0.1", 0)).start()
    proxy = server.bound[1]
    try:
        latencies(port, 100)
        latencies(proxy, 100)  # warm both paths
        direct, via = latencies(port, args.requests), latencies(proxy, args.requests)
        d_med, v_med = statistics.median(direct), statistics.median(via)
        d_p99 = statistics.quantiles(direct, n=100)[98]
        v_p99 = statistics.quantiles(via, n=100)[98]
        d_tp, v_tp = throughput(port, args.mib), throughput(proxy, args.mib)
    finally:
        server.stop()
        loop.call_soon_threadsafe(done.set)
    print(f"small GET, keep-alive, {args.requests} requests, one client:")
    print(f"  direct to backend   median {d_med * 1e3:6.2f} ms   p99 {d_p99 * 1e3:6.2f} ms")
    print(f"  through ingress     median {v_med * 1e3:6.2f} ms   p99 {v_p99 * 1e3:6.2f} ms"
          f"   ({v_med / d_med:.2f}x median)")
    print(f"{args.mib} MiB upload (POST), then {args.mib} MiB download (GET), streamed:")
    print(f"  direct to backend   up {d_tp[0]:7.1f} MiB/s   down {d_tp[1]:7.1f} MiB/s")
    print(f"  through ingress     up {v_tp[0]:7.1f} MiB/s   down {v_tp[1]:7.1f} MiB/s"
          f"   ({v_tp[0] / d_tp[0]:.2f}x, {v_tp[1] / d_tp[1]:.2f}x)")


if __name__ == "__main__":
    main()
