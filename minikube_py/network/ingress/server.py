"""The data path: an aiohttp server that forwards each request to the Service the rules chose.

It runs its event loop in one thread that first joins the node's network namespace
(proxy/netns.py `enter_netns`): the listening socket *and* every connection to a ClusterIP are
made by that thread, so both live in the node namespace, where kube-proxy's rules are; the rest
of the process (the API watches) stays in its own namespace.

Per request: match Host + path (routing.py) -> resolve the Service to ClusterIP:port
(backends.py) -> open (or reuse) a connection there -> send the request with X-Forwarded-*
headers -> stream the response back. Bodies are streamed both ways, never read whole.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import aiohttp
from aiohttp import web

from minikube_py.network.ingress.backends import Target, Unavailable, resolve
from minikube_py.network.ingress.errors import IngressError
from minikube_py.network.ingress.routing import Backend, RouteTable, normalize_host
from minikube_py.network.ingress.tls import CertStore
from minikube_py.network.proxy.netns import enter_netns

log = logging.getLogger("mkpy.ingress")

# Hop-by-hop headers (RFC 9110 7.6.1) describe one connection, not the message: a proxy drops them.
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "proxy-connection",
}  # fmt: skip
CHUNK = 64 * 1024
CONNECT_RETRY_SECONDS = 2.0  # how long a refused connection to a ClusterIP is tried again

# (namespace, name) -> object or None; the controller passes its informer caches
Lookup = Callable[[str, str], dict | None]


class IngressServer:
    """Serve HTTP on `listen` (ip, port) inside `netns`, routing by the table `table()` returns."""

    def __init__(self, table: Callable[[], RouteTable], services: Lookup, endpoints: Lookup,
                 listen: tuple[str, int], netns: str | None = None, tls_listen: tuple[str, int] | None = None,
                 certs: CertStore | None = None) -> None:
        self.table, self.services, self.endpoints = table, services, endpoints
        self.listen, self.netns = listen, netns
        self.tls_listen, self.certs = (tls_listen, certs) if tls_listen and certs else (None, None)
        self.tls_bound: tuple[str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self.bound: tuple[str, int] | None = None  # the address actually bound (port 0 -> a free one)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> IngressServer:
        ready = threading.Event()
        box: dict[str, BaseException] = {}
        self._thread = threading.Thread(target=self._run, args=(ready, box), name="mkpy-ingress-http",
                                        daemon=True)
        self._thread.start()
        ready.wait(30)
        if "error" in box:
            self._thread.join(5)
            raise IngressError(f"cannot listen on {self.listen[0]}:{self.listen[1]}: {box['error']}")
        return self

    def _run(self, ready: threading.Event, box: dict) -> None:
        try:
            if self.netns:
                enter_netns(self.netns)  # this thread, for its whole life: server and client sockets
            asyncio.run(self._serve(ready))
        except BaseException as exc:
            if not ready.is_set():
                box["error"] = exc
                ready.set()
            else:
                log.exception("ingress server failed")

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        # No decompression (the client gets the backend's bytes and Content-Encoding as they were),
        # no automatic headers, and a pool of keep-alive connections to the ClusterIPs.
        self.session = aiohttp.ClientSession(
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            timeout=aiohttp.ClientTimeout(total=None, connect=5, sock_read=300),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        server = web.Server(self.handle, access_log=None)
        runner = web.ServerRunner(server)
        await runner.setup()
        site = web.TCPSite(runner, self.listen[0], self.listen[1], reuse_address=True)
        try:
            await site.start()
            sock = site._server.sockets[0]  # type: ignore[union-attr]
            self.bound = sock.getsockname()[:2]
            if self.tls_listen and self.certs:
                # Same handler, TLS in front: the certificate is picked per handshake (tls.py).
                tls_site = web.TCPSite(runner, self.tls_listen[0], self.tls_listen[1], reuse_address=True,
                                       ssl_context=self.certs.server_context())
                await tls_site.start()
                self.tls_bound = tls_site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
            ready.set()
            await self._stopped.wait()
        finally:
            await runner.cleanup()
            await self.session.close()

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    # ------------------------------------------------------------------ one request
    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        host = request.host or ""
        match = self.table().match(host, request.path)
        what = f"{request.method} {host}{request.path_qs}"
        if match.backend is None:
            log.info("%s -> no rule matches: 404 (default backend)", what)
            return web.Response(status=404, text="404 page not found (mkpy ingress default backend)\n")
        if match.route is not None and match.route.https_only and not request.secure and self.tls_bound:
            location = self.https_url(request)
            log.info("%s -> ingress %s: 308 to %s (TLS host)", what, match.ingress, location)
            return web.Response(status=308, headers={"Location": location},
                                text=f"308 Permanent Redirect: {location}\n")
        b = match.backend
        try:
            target = resolve(b, self.services(b.namespace, b.service), self.endpoints(b.namespace, b.service))
        except Unavailable as exc:
            log.info("%s -> ingress %s -> %s: 503 (%s)", what, match.ingress, b, exc)
            return web.Response(status=503, text=f"503 Service Unavailable: {exc}\n")
        try:
            resp = await self.forward_retrying_connect(request, b, target)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.info("%s -> ingress %s -> %s (%s): 502 (%s)", what, match.ingress, b, target, exc)
            return web.Response(status=502, text=f"502 Bad Gateway: {exc}\n")
        log.info("%s -> ingress %s -> %s (%s): %d", what, match.ingress, b, target, resp.status)
        return resp

    async def forward_retrying_connect(self, request: web.BaseRequest, backend: Backend,
                                       target: Target) -> web.StreamResponse:
        """`forward`, tried again for a short while when the connection cannot be made at all.

        Right after an apply the Endpoints we read can be ready a moment before kube-proxy has
        loaded the rules for them, and the ClusterIP refuses. Nothing of the request has been sent
        then (the body is read only after connecting), so trying again is safe, as ingress-nginx's
        proxy_next_upstream does for connect errors."""
        deadline = asyncio.get_running_loop().time() + CONNECT_RETRY_SECONDS
        while True:
            try:
                return await self.forward(request, backend, target)
            except aiohttp.ClientConnectorError as exc:
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                log.debug("%s (%s): %s; trying again", backend, target, exc)
                await asyncio.sleep(0.1)

    def https_url(self, request: web.BaseRequest) -> str:
        """The same URL on our TLS port (named only when it is not 443)."""
        name = normalize_host(request.host or "")
        port = self.tls_bound[1]  # type: ignore[index] - handle() redirects only with TLS bound
        return f"https://{name}{'' if port == 443 else f':{port}'}{request.raw_path}"

    async def forward(self, request: web.BaseRequest, backend: Backend, target: Target) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        peer = request.remote or ""
        prior = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
        headers["X-Forwarded-Host"] = request.host or ""
        headers["X-Forwarded-Proto"] = request.scheme
        # The Host header stays the client's (virtual hosting in the backend keeps working).
        body = request.content if request.body_exists else None
        async with self.session.request(
            request.method, f"http://{target}{request.raw_path}", headers=headers, data=body,
            allow_redirects=False,
        ) as upstream:
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in upstream.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    resp.headers.add(k, v)
            await resp.prepare(request)
            try:
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await resp.write(chunk)
            except (aiohttp.ClientError, OSError) as exc:
                # The status line is gone already: all we can do is cut the client's connection too,
                # so it sees a truncated body rather than a complete-looking one.
                log.info("%s: backend %s broke off mid-body: %s", backend, target, exc)
                if request.transport is not None:
                    request.transport.close()
                return resp
            await resp.write_eof()
            return resp
