"""The reverse proxy itself, on loopback: a real aiohttp backend behind a real IngressServer,
called with http.client (no netns: the "ClusterIP" is 127.0.0.1)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import http.client
import json
import threading

import pytest
from aiohttp import web

from minikube_py.network.ingress.routing import RouteTable
from minikube_py.network.ingress.server import IngressServer


class Backend:
    """An HTTP server in its own thread that describes each request it gets."""

    def __init__(self, name: str) -> None:
        self.name = name
        ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main(ready)), daemon=True)
        self.thread.start()
        assert ready.wait(10)

    async def _echo(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/gzip":
            return web.Response(body=gzip.compress(b"zipped"), headers={"Content-Encoding": "gzip"})
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_chunked(65536):
            digest.update(chunk)
            size += len(chunk)
        info = {"backend": self.name, "method": request.method, "path": request.path_qs,
                "headers": dict(request.headers), "size": size, "sha256": digest.hexdigest()}
        return web.json_response(info, headers={"Connection": "keep-alive", "X-From": self.name})

    async def _main(self, ready: threading.Event) -> None:
        self.loop, self.done = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        await self.done.wait()
        await runner.cleanup()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.done.set)
        self.thread.join(10)


def ingress(rules: list[dict], default: dict | None = None) -> dict:
    spec: dict = {"rules": rules}
    if default:
        spec["defaultBackend"] = default
    return {"metadata": {"name": "web", "namespace": "default", "creationTimestamp": "x"}, "spec": spec}


def be(name: str, port: int) -> dict:
    return {"service": {"name": name, "port": {"number": port}}}


@pytest.fixture
def setup():
    a, b = Backend("a"), Backend("b")
    services = {
        "svc-a": {"spec": {"clusterIP": "127.0.0.1", "ports": [{"port": a.port}]}},
        "svc-b": {"spec": {"clusterIP": "127.0.0.1", "ports": [{"port": b.port}]}},
        "empty": {"spec": {"clusterIP": "127.0.0.1", "ports": [{"port": 9}]}},
        "dead": {"spec": {"clusterIP": "127.0.0.1", "ports": [{"port": 1}]}},  # nobody listens on :1
    }
    ready = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 1}]}]}
    endpoints = {"svc-a": ready, "svc-b": ready, "dead": ready, "empty": {"subsets": []}}
    table = RouteTable.build([ingress([
        {"host": "a.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                                                       "backend": be("svc-a", a.port)}]}},
        {"host": "*.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": be("svc-b", b.port)},
            {"path": "/none", "pathType": "Prefix", "backend": be("empty", 9)},
            {"path": "/missing", "pathType": "Exact", "backend": be("missing", 80)},
            {"path": "/dead", "pathType": "Exact", "backend": be("dead", 1)},
        ]}},
    ])])
    server = IngressServer(lambda: table, lambda ns, n: services.get(n), lambda ns, n: endpoints.get(n),
                           ("127.0.0.1", 0)).start()
    try:
        yield server.bound[1]
    finally:
        server.stop()
        a.stop()
        b.stop()


def call(port: int, host: str, path: str, method: str = "GET", body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_routes_by_host_and_adds_forwarded_headers(setup):
    status, headers, body = call(setup, "a.example.com", "/x?q=1", headers={"X-Forwarded-For": "1.2.3.4"})
    info = json.loads(body)
    assert status == 200 and info["backend"] == "a" and info["path"] == "/x?q=1"
    assert headers["X-From"] == "a"
    h = info["headers"]
    assert h["Host"] == "a.example.com"                       # the client's host, kept
    assert h["X-Forwarded-For"] == "1.2.3.4, 127.0.0.1"       # appended, as a chain of proxies does
    assert (h["X-Forwarded-Host"], h["X-Forwarded-Proto"]) == ("a.example.com", "http")
    status, _, body = call(setup, "other.example.com", "/")
    assert status == 200 and json.loads(body)["backend"] == "b"


def test_streams_a_large_body_both_ways_unchanged(setup):
    data = bytes(range(256)) * (8 * 1024 * 4)   # 8 MiB
    status, _, body = call(setup, "a.example.com", "/upload", "POST", body=data)
    info = json.loads(body)
    assert status == 200 and info["size"] == len(data)
    assert info["sha256"] == hashlib.sha256(data).hexdigest()


def test_compressed_responses_pass_through_untouched(setup):
    status, headers, body = call(setup, "a.example.com", "/gzip", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == b"zipped"


def test_404_503_502(setup):
    status, _, body = call(setup, "nobody.org", "/")
    assert status == 404 and b"default backend" in body
    status, _, body = call(setup, "b.example.com", "/none/x")
    assert status == 503 and b"no ready endpoints" in body
    status, _, body = call(setup, "b.example.com", "/missing")
    assert status == 503 and b"default/missing not found" in body
    status, _, _ = call(setup, "b.example.com", "/dead")
    assert status == 502


def test_head_gets_the_headers_and_no_body(setup):
    conn = http.client.HTTPConnection("127.0.0.1", setup, timeout=30)
    try:
        conn.request("HEAD", "/", headers={"Host": "a.example.com"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("X-From") == "a" and resp.read() == b""
        # the same keep-alive connection works afterwards: no stray body bytes were sent after HEAD
        conn.request("GET", "/", headers={"Host": "a.example.com"})
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["method"] == "GET"
    finally:
        conn.close()


def test_a_backend_that_starts_listening_a_moment_late_still_gets_the_request():
    """Endpoints ready a moment before kube-proxy's rules: the first connects are refused."""
    import http.server
    import socket
    import time

    with socket.socket() as probe:  # a port nobody listens on yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # the name http.server calls
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    late: list[http.server.HTTPServer] = []

    def listen_later():
        time.sleep(0.5)
        late.append(http.server.HTTPServer(("127.0.0.1", port), Hello))
        late[0].serve_forever()

    services = {"late": {"spec": {"clusterIP": "127.0.0.1", "ports": [{"port": port}]}}}
    ready = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": port}]}]}
    table = RouteTable.build([ingress([{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                                                             "backend": be("late", port)}]}}])])
    server = IngressServer(lambda: table, lambda ns, n: services.get(n), lambda ns, n: ready,
                           ("127.0.0.1", 0)).start()
    threading.Thread(target=listen_later, daemon=True).start()
    try:
        status, _, body = call(server.bound[1], "any.host", "/", "POST", body=b"the body, sent once")
        assert (status, body) == (200, b"the body, sent once")
    finally:
        server.stop()
        if late:
            late[0].shutdown()
            late[0].server_close()
