"""The HTTP front of the API server (aiohttp): auth, URL -> resource + verb, JSON in and out.

A request's path, step by step (docs/control-plane.md tells the same story):
  1. `auth_middleware`: who is asking (authn.py); off loopback only HTTPS with a valid token;
     the unix socket (root on this machine) is trusted.
  2. `handle_resource` parses /api/v1/namespaces/NS/pods/NAME/SUB into (Resource, ns, name, sub)
     and picks the verb from the method (GET + ?watch=true is a watch).
  3. The `Registry` does the verb against storage; errors are `ApiError` -> a Status body.
  4. Lists and gets may be answered as a server-side Table (what `kubectl get` asks for).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
from typing import Any

from aiohttp import web

from . import auth, bootstrap, discovery, tables
from .authn import LOCAL_ROOT, PUBLIC_PATHS, Authenticator, User, authorize
from .errors import ApiError, bad_request
from .objects.fields import WARNINGS
from .registry import Registry
from .resources import Resource, by_path
from .selectors import parse_or_400

log = logging.getLogger("minikube_py.api")

KUBE_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-mkpy",
    "gitCommit": "mkpy",
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T00:00:00Z",
    "goVersion": "python",
    "compiler": "cpython",
    "platform": "linux/amd64",
}

REGISTRY = web.AppKey("registry", Registry)
AUTHN = web.AppKey("authn", Authenticator)
USER = web.RequestKey("user", User)
SETTINGS = web.AppKey("settings", dict)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type="application/json"
    )


def _error(e: ApiError) -> web.Response:
    return _json(e.status(), e.code)


# ---------------------------------------------------------------- middleware
def _is_unix(request: web.Request) -> bool:
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    return isinstance(sock, (str, bytes))


def _local_host(request: web.Request) -> str:
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    return str(sock[0]) if isinstance(sock, tuple) else ""


@web.middleware
async def auth_middleware(request: web.Request, handler):
    """Who is asking, and may they (authn.py). The unix socket (root on this machine) is trusted.

    On loopback (127.0.0.1, ::1) a token is required when the server has any; off loopback
    the connection must be TLS and every request but the public ones must carry a valid token."""
    if _is_unix(request):
        request[USER] = LOCAL_ROOT
        return await handler(request)
    authenticator: Authenticator = request.app[AUTHN]
    off_loopback = not auth.is_loopback(_local_host(request))
    if off_loopback and not request.secure:
        return _error(ApiError("Forbidden", "plain HTTP is refused off loopback: use https://"))
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header.startswith("Bearer ") else ""
    user = await authenticator.authenticate(given)
    if user is not None:
        request[USER] = user
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    if user is None:
        if off_loopback or authenticator.static:
            return _error(ApiError("Unauthorized", "Unauthorized"))
        return await handler(request)  # a token-less loopback lab server
    authorize(user, request.method, request.path)
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as e:
        return _error(e)
    except web.HTTPException:
        raise
    except Exception as e:
        log.exception("internal error on %s %s", request.method, request.path)
        return _error(ApiError("InternalError", f"Internal error occurred: {e}"))


# ---------------------------------------------------------------- plain endpoints
async def version(request: web.Request) -> web.Response:
    return _json(KUBE_VERSION)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    await request.app[REGISTRY].backend.current_revision()  # the store answers
    return web.Response(text="ok")


async def api_versions(request: web.Request) -> web.Response:
    return _json(discovery.api_versions(request.host))


async def api_groups(request: web.Request) -> web.Response:
    return _json(discovery.api_group_list())


async def api_group(request: web.Request) -> web.Response:
    body = discovery.api_group(request.match_info["group"])
    if body is None:
        raise ApiError("NotFound", "the server could not find the requested resource")
    return _json(body)


# ---------------------------------------------------------------- resources
NS_SUBRESOURCES = ("status", "finalize")


def parse_resource_path(group: str, version: str, segs: list[str]) -> tuple[Resource, str | None, str, str]:
    """[namespaces, NS,] plural [, name [, subresource]] -> (resource, namespace, name, subresource)."""
    ns: str | None = None
    if (
        len(segs) >= 3
        and segs[0] == "namespaces"
        and not (group == "" and len(segs) == 3 and segs[2] in NS_SUBRESOURCES)
    ):
        ns, segs = segs[1], segs[2:]
    if not segs or len(segs) > 3:
        raise ApiError("NotFound", "the server could not find the requested resource")
    res = by_path(group, version, segs[0])
    if res is None:
        raise ApiError("NotFound", "the server could not find the requested resource")
    if ns is not None and not res.namespaced:
        raise ApiError("NotFound", "the server could not find the requested resource")
    name = segs[1] if len(segs) > 1 else ""
    sub = segs[2] if len(segs) > 2 else ""
    if sub and sub not in res.subresources:
        raise ApiError("NotFound", "the server could not find the requested resource")
    return res, ns, name, sub


async def handle_core(request: web.Request) -> web.StreamResponse:
    segs = [s for s in request.match_info["tail"].split("/") if s]
    return await _with_warnings(handle_resource(request, "", "v1", segs))


async def handle_group(request: web.Request) -> web.StreamResponse:
    group, version_ = request.match_info["group"], request.match_info["version"]
    segs = [s for s in request.match_info["tail"].split("/") if s]
    if group == "metrics.k8s.io":
        from . import metrics

        res, ns, name, _sub = parse_resource_path(group, version_, segs)
        if request.method != "GET":
            raise ApiError("MethodNotAllowed", f"{res.group_resource} can only be read", code=405)
        return _json(await metrics.serve(request.app[REGISTRY], res, ns, name, request.query))
    return await _with_warnings(handle_resource(request, group, version_, segs))


async def _with_warnings(handling) -> web.StreamResponse:
    """Collect what the registry warns about (unknown fields) into `Warning: 299` headers."""
    warnings: list[str] = []
    token = WARNINGS.set(warnings)
    try:
        resp = await handling
    finally:
        WARNINGS.reset(token)
    if warnings and not resp.prepared:
        for w in warnings:
            resp.headers.add("Warning", '299 - "{}"'.format(w.replace("\\", "\\\\").replace('"', '\\"')))
    return resp


async def resource_list(request: web.Request) -> web.Response:
    group = request.match_info.get("group", "")
    version_ = request.match_info.get("version", "v1")
    body = discovery.api_resource_list(group, version_)
    if body is None:
        raise ApiError("NotFound", "the server could not find the requested resource")
    return _json(body)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    ctype = request.content_type
    if ctype in ("application/yaml", "application/apply-patch+yaml"):
        import yaml

        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise bad_request(f"error decoding YAML: {e}") from None
    try:
        return json.loads(raw)
    except ValueError as e:
        raise bad_request(f"error decoding request body as JSON: {e}") from None


def _int_param(q, name: str) -> int | None:
    v = q.get(name)
    if v in (None, ""):
        return None
    try:
        return int(v)
    except ValueError:
        raise bad_request(f"{name}: invalid integer {v!r}") from None


async def handle_resource(
    request: web.Request, group: str, version_: str, segs: list[str]
) -> web.StreamResponse:
    registry = request.app[REGISTRY]
    res, ns, name, sub = parse_resource_path(group, version_, segs)
    q = request.query
    method = request.method
    dry_run = q.get("dryRun") == "All"
    fv = q.get("fieldValidation")
    want_table = tables.wants_table(request.headers.get("Accept", ""))
    include = q.get("includeObject", "Metadata")

    if method == "GET" and not name:
        label, field = parse_or_400(q.get("labelSelector"), q.get("fieldSelector"), res.plural)
        if q.get("watch") in ("1", "true", "True"):
            return await _watch(request, registry, res, ns, label, field, want_table, include)
        listed = await registry.list(
            res, ns, label, field, _int_param(q, "limit") or 0, q.get("continue", "")
        )
        if want_table:
            return _json(tables.table(res, listed["items"], listed["metadata"], include))
        return _json(listed)
    if (
        name
        and res.plural == "pods"
        and sub in ("exec", "attach", "portforward")
        and method in ("GET", "POST")
    ):
        from . import streaming

        if sub == "portforward":
            return await streaming.handle_portforward(request, registry, ns or "default", name)
        return await streaming.handle_exec(request, registry, ns or "default", name, sub)
    if method == "GET" and name and q.get("watch") in ("1", "true", "True"):
        label, field = parse_or_400(q.get("labelSelector"), f"metadata.name={name}", res.plural)
        return await _watch(request, registry, res, ns, label, field, want_table, include)
    if method == "GET":
        if sub in ("", "status"):
            obj = await registry.get(res, ns, name)
            if want_table and not sub:
                return _json(
                    tables.table(res, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, include)
                )
            return _json(obj)
        if sub == "scale":
            return _json(await registry.get_scale(res, ns, name))
        if sub == "log":
            from .nodeproxy import stream_logs

            return await stream_logs(request, registry, ns or "default", name)
        return await _not_here(res, sub)
    if method == "POST":
        if not name:
            return _json(await registry.create(res, ns, await _body(request), dry_run, fv), 201)
        if sub == "binding":
            return _json(await registry.bind(ns or "default", name, await _body(request)), 201)
        if sub == "eviction":
            return _json(await registry.evict(ns or "default", name, await _body(request)), 201)
        return await _not_here(res, sub)
    if method == "PUT":
        if not name:
            raise ApiError("MethodNotAllowed", "PUT needs a name", code=405)
        body = await _body(request)
        if sub == "scale":
            return _json(await registry.update_scale(res, ns, name, body, dry_run))
        if sub not in ("", "status", "finalize"):
            return await _not_here(res, sub)
        return _json(await registry.update(res, ns, name, body, sub, dry_run, fv))
    if method == "PATCH":
        if not name:
            raise ApiError("MethodNotAllowed", "PATCH needs a name", code=405)
        if sub not in ("", "status", "scale"):
            return await _not_here(res, sub)
        return _json(
            await registry.patch(
                res, ns, name, await request.read(), request.headers.get("Content-Type", ""), sub, dry_run, fv
            )
        )
    if method == "DELETE":
        options = await _body(request) or {}
        if not isinstance(options, dict):
            raise bad_request("DeleteOptions must be an object")
        for k in ("gracePeriodSeconds",):
            v = _int_param(q, k)
            if v is not None:
                options[k] = v
        if q.get("propagationPolicy"):
            options["propagationPolicy"] = q["propagationPolicy"]
        if q.get("orphanDependents"):
            options["orphanDependents"] = q["orphanDependents"] == "true"
        if not name:
            label, field = parse_or_400(q.get("labelSelector"), q.get("fieldSelector"), res.plural)
            return _json(await registry.delete_collection(res, ns, label, field, options, dry_run))
        return _json(await registry.delete(res, ns, name, options, dry_run))
    raise ApiError("MethodNotAllowed", f"method {method} is not supported", code=405)


async def _not_here(res: Resource, sub: str) -> web.Response:
    # exec/portforward need the connection upgraded (SPDY/WebSocket) and proxied to the kubelet.
    raise ApiError(
        "NotFound", f"the subresource {res.plural}/{sub} is not served by this API server yet", code=404
    )


async def _watch(
    request: web.Request,
    registry: Registry,
    res: Resource,
    ns: str | None,
    label,
    field,
    want_table: bool,
    include: str,
) -> web.StreamResponse:
    """Chunked JSON lines, one `{"type": ..., "object": ...}` per change (a Kubernetes watch)."""
    q = request.query
    timeout = _int_param(q, "timeoutSeconds")
    settings = request.app[SETTINGS]
    if timeout is None:
        timeout = settings.get("max_watch_seconds", 1800)
    bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
    interval = settings.get("bookmark_interval", 60.0) if bookmarks else None
    resp = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    deadline = time.monotonic() + timeout
    events = registry.watch(res, ns, q.get("resourceVersion", ""), label, field, interval)
    first_table = True

    async def send(kind: str, obj: dict) -> None:
        nonlocal first_table
        if want_table and kind != "ERROR" and kind != "BOOKMARK":
            obj = tables.table(
                res,
                [obj],
                {"resourceVersion": obj["metadata"]["resourceVersion"]},
                include,
                columns=first_table,
            )
            first_table = False
        await resp.write(json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n")

    async def pump() -> None:
        async for kind, obj in events:
            if kind == "BOOKMARK" and not bookmarks:
                continue
            await send(kind, obj)

    try:
        # Cancelling the pump at the deadline unwinds the store's watch (its finally clauses run).
        await asyncio.wait_for(pump(), max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        pass
    except ApiError as e:
        await send("ERROR", e.status())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        await events.aclose()
    try:
        await resp.write_eof()
    except ConnectionResetError:
        pass
    return resp


# ---------------------------------------------------------------- the app
def make_app(
    registry: Registry, tokens: list[str] | None = None, ca_pem: bytes | None = None, **settings: Any
) -> web.Application:
    app = web.Application(middlewares=[error_middleware, auth_middleware], client_max_size=16 * 1024 * 1024)
    app[REGISTRY] = registry
    app[AUTHN] = Authenticator(registry, tokens)
    app[SETTINGS] = settings
    r = app.router
    r.add_get("/version", version)
    r.add_get("/healthz", healthz)
    r.add_get("/livez", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/api", api_versions)
    r.add_get("/apis", api_groups)
    r.add_get("/api/v1", resource_list)
    r.add_get("/apis/{group}", api_group)
    r.add_get("/apis/{group}/{version}", resource_list)
    r.add_route("*", "/api/v1/{tail:.+}", handle_core)
    r.add_route("*", "/apis/{group}/{version}/{tail:.+}", handle_group)
    from . import openapi

    openapi.add_routes(app)
    bootstrap.add_routes(app, ca_pem)
    return app


class ApiServer:
    """Storage + registry + HTTP listeners, started and stopped together (used by the CLI and tests)."""

    def __init__(
        self,
        store_url: str,
        *,
        listen: str | None = "127.0.0.1:6443",
        socket_path: str | None = None,
        tokens: list[str] | None = None,
        encryption_key_file: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        ca_file: str | None = None,
        compact_keep: int = 10000,
        compact_interval: float = 60.0,
        **settings: Any,
    ) -> None:
        from .storage import open_backend
        from .storage.encryption import Transformer

        self.backend = open_backend(store_url)
        from .allocator import Allocator

        self.registry = Registry(
            self.backend,
            Transformer(encryption_key_file),
            Allocator(settings.pop("service_cidr", "10.96.0.0/12")),
        )
        self.listen = listen
        self.socket_path = socket_path
        self.tokens = tokens or []
        self.tls = (tls_cert, tls_key) if tls_cert and tls_key else None
        if listen and not self.tls and not auth.is_loopback(listen.rpartition(":")[0] or "127.0.0.1"):
            raise ValueError(f"listen: {listen} is off loopback, so it needs TLS (tls_cert and tls_key)")
        self.ca_pem: bytes | None = None
        if ca_file:
            with open(ca_file, "rb") as f:
                self.ca_pem = f.read()
        self.compact_keep = compact_keep
        self.compact_interval = compact_interval
        self.event_ttl = int(settings.pop("event_ttl", 3600))
        # (ip, port) pods reach the API server at: the `kubernetes` Service's endpoint.
        self.advertise: tuple[str, int] | None = settings.pop("advertise", None)
        self.settings = settings
        self.runner: web.AppRunner | None = None
        self.port: int | None = None
        self._compactor: asyncio.Task | None = None

    async def start(self) -> None:
        await self.backend.start()
        await self.registry.ensure_system_objects(self.advertise)
        app = make_app(self.registry, self.tokens, self.ca_pem, **self.settings)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        if self.listen:
            host, _, port = self.listen.rpartition(":")
            ctx = None
            if self.tls:
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(*self.tls)
            site = web.TCPSite(self.runner, host or "127.0.0.1", int(port), ssl_context=ctx)
            await site.start()
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.socket_path:
            os.makedirs(os.path.dirname(self.socket_path) or ".", exist_ok=True)
            if os.path.exists(self.socket_path):
                os.unlink(self.socket_path)
            await web.UnixSite(self.runner, self.socket_path).start()
            os.chmod(self.socket_path, 0o660)
        self._compactor = asyncio.create_task(self._compact_loop())

    async def _compact_loop(self) -> None:
        while True:
            await asyncio.sleep(self.compact_interval)
            try:
                await self.registry.expire_events(self.event_ttl)
                await self.registry.claims.repair()
                await self.backend.compact(self.compact_keep)
            except Exception:
                log.exception("housekeeping (event expiry, compaction) failed")

    async def stop(self) -> None:
        if self._compactor:
            self._compactor.cancel()
        await self.backend.end_watches()
        if self.runner:
            await self.runner.cleanup()
        await self.backend.close()
        if self.socket_path and os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
