"""A small synchronous, thread-safe client for the API server (and any Kubernetes API server).

    c = Client.from_kubeconfig("/etc/mkpy/admin.kubeconfig")   # https + bearer token
    c = Client.from_socket("/run/mkpy/apiserver.sock")         # node agents: unix socket
    pod = c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {...}})
    for ev in c.watch("pods", namespace="default", resource_version=pod["metadata"]["resourceVersion"]):
        print(ev["type"], ev["object"]["metadata"]["name"])

Objects are plain dicts shaped like Kubernetes JSON. Errors are `ApiError` (a Status).
Each thread gets its own keep-alive connection; a watch uses its own connection and
resumes from the last resourceVersion it saw when the server ends the stream.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

from .errors import ApiError
from .resources import Resource, by_kind, lookup

PATCH_CONTENT_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


class Client:
    def __init__(
        self,
        server: str | None = None,
        *,
        token: str | None = None,
        unix_socket: str | None = None,
        ca_file: str | None = None,
        ca_data: bytes | None = None,
        insecure: bool = False,
        timeout: float = 30.0,
    ) -> None:
        if not server and not unix_socket:
            raise ValueError("Client needs a server URL or a unix socket path")
        self.unix_socket = unix_socket
        self.token = token
        self.timeout = timeout
        self._local = threading.local()
        self._ssl: ssl.SSLContext | None = None
        if server:
            url = urllib.parse.urlsplit(server)
            self.scheme, self.host = url.scheme, url.hostname or "127.0.0.1"
            self.port = url.port or (443 if url.scheme == "https" else 80)
            if url.scheme == "https":
                self._ssl = ssl.create_default_context(
                    cafile=ca_file, cadata=ca_data.decode() if ca_data else None
                )
                if insecure:
                    self._ssl.check_hostname = False
                    self._ssl.verify_mode = ssl.CERT_NONE
        self.server = server or f"unix://{unix_socket}"

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_socket(cls, path: str, timeout: float = 30.0) -> Client:
        return cls(unix_socket=path, timeout=timeout)

    @classmethod
    def from_kubeconfig(
        cls, path: str | None = None, context: str | None = None, timeout: float = 30.0
    ) -> Client:
        import yaml

        path = path or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        with open(path) as f:
            cfg = yaml.safe_load(f)
        ctx_name = context or cfg.get("current-context")
        ctx = next((c["context"] for c in cfg.get("contexts") or [] if c["name"] == ctx_name), None)
        if ctx is None:
            raise ValueError(f"{path}: context {ctx_name!r} not found")
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next((u["user"] for u in cfg.get("users") or [] if u["name"] == ctx.get("user")), {}) or {}
        token = user.get("token")
        if not token and user.get("tokenFile"):
            with open(user["tokenFile"]) as f:
                token = f.read().strip()
        ca_data = (
            base64.b64decode(cluster["certificate-authority-data"])
            if cluster.get("certificate-authority-data")
            else None
        )
        return cls(
            cluster["server"],
            token=token,
            ca_file=cluster.get("certificate-authority"),
            ca_data=ca_data,
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            timeout=timeout,
        )

    # ------------------------------------------------------------------ transport
    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        if self.unix_socket:
            return _UnixConnection(self.unix_socket, timeout)
        if self._ssl is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self._ssl)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _headers(self, content_type: str | None) -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": "minikube_py-client"}
        if content_type:
            h["Content-Type"] = content_type
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """One call; returns the decoded JSON (or text), raises ApiError on a non-2xx answer."""
        if query:
            q = {
                k: ("true" if v is True else "false" if v is False else v)
                for k, v in query.items()
                if v is not None
            }
            if q:
                path += "?" + urllib.parse.urlencode(q)
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._connect(self.timeout)
            try:
                conn.request(method, path, body=data, headers=self._headers(content_type if data else None))
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
                http.client.CannotSendRequest,
                http.client.ResponseNotReady,
            ):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        return _decode(resp.status, resp.getheader("Content-Type") or "", raw)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ paths
    @staticmethod
    def resource(what: str | Resource | dict) -> Resource:
        if isinstance(what, Resource):
            return what
        if isinstance(what, dict):
            res = by_kind(what.get("apiVersion", ""), what.get("kind", ""))
            if res is None:
                raise ValueError(f"unknown apiVersion/kind {what.get('apiVersion')}/{what.get('kind')}")
            return res
        return lookup(what)

    @staticmethod
    def path(res: Resource, namespace: str | None = None, name: str = "", subresource: str = "") -> str:
        base = f"/apis/{res.group}/{res.version}" if res.group else "/api/v1"
        if res.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{res.plural}"
        if name:
            base += f"/{urllib.parse.quote(name, safe='')}"
        if subresource:
            base += f"/{subresource}"
        return base

    def _ns(self, res: Resource, namespace: str | None, default: str = "default") -> str | None:
        return (namespace or default) if res.namespaced else None

    # ------------------------------------------------------------------ verbs
    def version(self) -> dict:
        return self.request("GET", "/version")

    def get(
        self, resource: str | Resource, name: str, namespace: str | None = None, subresource: str = ""
    ) -> dict:
        res = self.resource(resource)
        return self.request("GET", self.path(res, self._ns(res, namespace), name, subresource))

    def list(
        self,
        resource: str | Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> dict:
        """The List object (`items`, `metadata.resourceVersion`); namespace None = all namespaces."""
        res = self.resource(resource)
        return self.request(
            "GET",
            self.path(res, namespace),
            query={
                "labelSelector": label_selector,
                "fieldSelector": field_selector,
                "limit": limit,
                "continue": continue_,
                "resourceVersion": resource_version,
            },
        )

    def create(self, obj: dict, namespace: str | None = None, dry_run: bool = False) -> dict:
        res = self.resource(obj)
        ns = self._ns(res, namespace or (obj.get("metadata") or {}).get("namespace"))
        return self.request("POST", self.path(res, ns), obj, query={"dryRun": "All" if dry_run else None})

    def update(self, obj: dict, subresource: str = "", namespace: str | None = None) -> dict:
        """PUT the whole object; its metadata.resourceVersion makes it a compare-and-swap (409 if stale)."""
        res = self.resource(obj)
        meta = obj.get("metadata") or {}
        ns = self._ns(res, namespace or meta.get("namespace"))
        return self.request("PUT", self.path(res, ns, meta["name"], subresource), obj)

    def update_status(self, obj: dict) -> dict:
        return self.update(obj, "status")

    def patch(
        self,
        resource: str | Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str = "",
    ) -> dict:
        res = self.resource(resource)
        return self.request(
            "PATCH",
            self.path(res, self._ns(res, namespace), name, subresource),
            patch,
            content_type=PATCH_CONTENT_TYPES[patch_type],
        )

    def delete(
        self,
        resource: str | Resource,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: dict | None = None,
    ) -> dict:
        res = self.resource(resource)
        opts: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy:
            opts["propagationPolicy"] = propagation_policy
        if preconditions:
            opts["preconditions"] = preconditions
        return self.request("DELETE", self.path(res, self._ns(res, namespace), name), opts)

    def delete_collection(
        self,
        resource: str | Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict:
        res = self.resource(resource)
        return self.request(
            "DELETE",
            self.path(res, self._ns(res, namespace)),
            query={"labelSelector": label_selector, "fieldSelector": field_selector},
        )

    def bind(self, namespace: str, pod: str, node: str) -> dict:
        """What the scheduler does: POST pods/NAME/binding."""
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        return self.request("POST", self.path(lookup("pods"), namespace, pod, "binding"), body)

    def scale(self, resource: str | Resource, name: str, replicas: int, namespace: str | None = None) -> dict:
        return self.patch(resource, name, {"spec": {"replicas": replicas}}, namespace, subresource="scale")

    def watch(
        self,
        resource: str | Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        bookmarks: bool = False,
        resume: bool = True,
    ) -> Watch:
        """Iterate {"type", "object"} events. Without resource_version the current objects come
        first as ADDED. A 410 Gone (too old) raises ApiError(reason Expired): list again and rewatch."""
        return Watch(
            self,
            self.resource(resource),
            namespace,
            resource_version,
            label_selector,
            field_selector,
            timeout_seconds,
            bookmarks,
            resume,
        )


class Watch:
    """An iterator over watch events that can be stopped from another thread (`stop()`)."""

    def __init__(
        self,
        client: Client,
        res: Resource,
        namespace: str | None,
        resource_version: str | None,
        label_selector: str | None,
        field_selector: str | None,
        timeout_seconds: int | None,
        bookmarks: bool,
        resume: bool,
    ) -> None:
        self.client, self.res, self.namespace = client, res, namespace
        self.resource_version = resource_version
        self.query = {
            "watch": "true",
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": "true" if bookmarks else None,
        }
        self.resume = resume and timeout_seconds is None
        self.bookmarks = bookmarks
        self._conn: http.client.HTTPConnection | None = None
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __iter__(self) -> Iterator[dict[str, Any]]:
        backoff = 0.1
        while not self._stopped.is_set():
            q = {**self.query, "resourceVersion": self.resource_version}
            path = (
                self.client.path(self.res, self.namespace)
                + "?"
                + urllib.parse.urlencode({k: v for k, v in q.items() if v is not None})
            )
            conn = self._conn = self.client._connect(None)
            try:
                conn.request("GET", path, headers=self.client._headers(None))
                resp = conn.getresponse()
                if resp.status >= 300:
                    _decode(resp.status, resp.getheader("Content-Type") or "", resp.read())
                while True:
                    line = resp.readline()
                    if not line:
                        break
                    event = json.loads(line)
                    if event["type"] == "ERROR":
                        raise ApiError.from_status(event["object"])
                    rv = (event["object"].get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.resource_version = rv
                    if event["type"] == "BOOKMARK" and not self.bookmarks:
                        continue
                    yield event
            except (OSError, http.client.HTTPException, ValueError):
                if self._stopped.is_set():
                    return
                if not self.resume:
                    raise
                # The server is away (restarting?): back off instead of spinning, then resume.
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            finally:
                conn.close()
                self._conn = None
            if not self.resume:
                return
            backoff = 0.1


def _decode(status: int, content_type: str, raw: bytes) -> Any:
    body: Any = raw
    if "json" in content_type:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
    elif "text" in content_type:
        body = raw.decode(errors="replace")
    if status >= 300:
        if isinstance(body, dict) and body.get("kind") == "Status":
            raise ApiError.from_status(body, status)
        raise ApiError("InternalError", f"HTTP {status}: {body!r}"[:500], code=status)
    return body
