"""Informers: a local cache of one resource kept current by list + watch (client-go's
reflector + informer and SharedInformerFactory). The kubelet, the controllers and the
scheduler all read the cluster through this one loop:

1. LIST the resource; the list's resourceVersion says "the state as of revision R".
2. WATCH from R: the server streams every change after R (ADDED/MODIFIED/DELETED), and
   BOOKMARKs that only move R forward. A watch that ends is re-opened from the last R seen.
3. If the server answers 410 Gone (R is older than the history it keeps), LIST again and
   diff the new list against the cache, so handlers still see every add, update and delete.

    inf = Informer(client, "pods", field_selector="spec.nodeName=node-1",
                   on_add=..., on_update=lambda old, new: ..., on_delete=...)
    inf.start(); inf.wait_for_sync(10); inf.get("web", "default"); inf.stop()

`client` is anything with `list(resource, namespace, label_selector=, field_selector=)` and
`watch(resource, namespace, resource_version=, label_selector=, field_selector=,
timeout_seconds=)` whose errors carry an HTTP `.code`: `minikube_py.api.client.Client`, the
controllers' adapter around it, or the controllers' in-memory fake in unit tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from minikube_py.k8s.meta import key_of

from .resources import lookup

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class WatchExpired(Exception):
    """The server says our resourceVersion is too old (410 Gone): re-list."""


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


class Handler:
    def __init__(
        self,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> None:
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete


class Informer:
    def __init__(
        self,
        client: Any,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        watch_timeout: int = 300,
        retry_delay: float = 0.5,
        bookmarks: bool = False,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> None:
        self.client, self.resource, self.namespace = client, resource, namespace
        self.label_selector, self.field_selector = label_selector, field_selector
        self.watch_timeout, self.retry_delay = watch_timeout, retry_delay
        # Ask for BOOKMARKs (the API client takes bookmarks=True; the controllers' adapter always asks).
        self._watch_options = {"bookmarks": True} if bookmarks else {}
        try:
            res = lookup(resource)
            self.api_version, self.kind = res.api_version, res.kind
        except KeyError:
            self.api_version, self.kind = "v1", ""
        self._lock = threading.RLock()
        self._cache: dict[str, Obj] = {}
        self._handlers: list[Handler] = []
        if on_add or on_update or on_delete:
            self._handlers.append(Handler(on_add, on_update, on_delete))
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: Any = None
        self.resource_version: str | None = None
        self.lists = 0  # how many LISTs (1 + one per 410 Gone or broken watch)
        self.last_error: Exception | None = None  # the latest failure, retried (None once a list works)

    @property
    def relists(self) -> int:
        """How often the informer had to list again after the first list."""
        return max(self.lists - 1, 0)

    # ------------------------------------------------------------ reading the cache
    def get(self, name: str, namespace: str | None = None) -> Obj | None:
        with self._lock:
            return self._cache.get(f"{namespace}/{name}" if namespace else name)

    def get_by_key(self, key: str) -> Obj | None:
        with self._lock:
            return self._cache.get(key)

    def list(self, namespace: str | None = None) -> list[Obj]:
        with self._lock:
            items = list(self._cache.values())
        if namespace is None:
            return items
        return [o for o in items if (o.get("metadata") or {}).get("namespace") == namespace]

    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    # ------------------------------------------------------------ handlers
    def add_handler(
        self,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> None:
        handler = Handler(on_add, on_update, on_delete)
        with self._lock:
            self._handlers.append(handler)
            existing = list(self._cache.values())
        # A late handler sees what is already cached, as client-go's AddEventHandler does.
        for obj in existing:
            self._call(handler.on_add, obj)

    def _call(self, fn: Callable | None, *args: Obj) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            log.exception("%s informer: handler failed", self.resource)

    def _dispatch(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        for h in list(self._handlers):
            if kind == "add":
                self._call(h.on_add, new)  # type: ignore[arg-type]
            elif kind == "update":
                self._call(h.on_update, old, new)  # type: ignore[arg-type]
            else:
                self._call(h.on_delete, old)  # type: ignore[arg-type]

    # ------------------------------------------------------------ list and watch
    def _stamp(self, obj: Obj) -> Obj:
        # List items carry no kind/apiVersion in Kubernetes JSON; the loops want them.
        if self.kind:
            obj.setdefault("kind", self.kind)
            obj.setdefault("apiVersion", self.api_version)
        return obj

    def relist(self) -> None:
        """LIST, then turn the difference with the cache into add/update/delete calls."""
        result = self.client.list(
            self.resource,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        self.lists += 1
        self.last_error = None
        fresh = {key_of(o): self._stamp(o) for o in result.get("items") or []}
        with self._lock:
            old = self._cache
            self._cache = fresh
            self.resource_version = (result.get("metadata") or {}).get("resourceVersion")
        for key, obj in fresh.items():
            prev = old.get(key)
            if prev is None:
                self._dispatch("add", None, obj)
            elif _rv(prev) != _rv(obj):
                self._dispatch("update", prev, obj)
        for key, prev in old.items():
            if key not in fresh:
                self._dispatch("delete", prev, None)
        self._synced.set()

    def apply_event(self, event: Obj) -> None:
        """Fold one watch event into the cache and tell the handlers."""
        etype, obj = event.get("type"), event.get("object") or {}
        if etype == "ERROR":
            if obj.get("code") == 410:
                raise WatchExpired(obj.get("message", "410 Gone"))
            raise RuntimeError(f"{self.resource} watch error: {obj.get('message') or obj}")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if etype == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return
        obj = self._stamp(obj)
        key = key_of(obj)
        with self._lock:
            prev = self._cache.get(key)
            if etype == "DELETED":
                self._cache.pop(key, None)
            else:
                self._cache[key] = obj
            if rv:
                self.resource_version = rv
        if etype == "DELETED":
            self._dispatch("delete", prev or obj, None)
        elif prev is None:
            self._dispatch("add", None, obj)
        else:
            self._dispatch("update", prev, obj)

    def _watch_once(self) -> None:
        w = self.client.watch(
            self.resource,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=self.watch_timeout,
            **self._watch_options,
        )
        self._watch = w
        try:
            if self._stop.is_set():
                return
            for event in w:
                if self._stop.is_set():
                    return
                self.apply_event(event)
        finally:
            self._watch = None
            _close(w, self.resource)

    def run(self, list_first: bool = True) -> None:
        """LIST (unless the cache is already filled: list_first=False), then WATCH for ever."""
        need_list = list_first
        while not self._stop.is_set():
            try:
                if need_list:
                    self.relist()
                    need_list = False
                self._watch_once()  # returns when the server ends the stream: watch again
            except WatchExpired:
                log.info(
                    "%s informer: resourceVersion %s expired, re-listing",
                    self.resource,
                    self.resource_version,
                )
                need_list = True
            except Exception as exc:
                if self._stop.is_set():
                    break
                if _code(exc) == 410:
                    need_list = True
                    continue
                self.last_error = exc
                log.warning("%s informer: %s; re-listing", self.resource, exc, exc_info=_code(exc) is None)
                need_list = True
                self._stop.wait(self.retry_delay)

    def start(self) -> Informer:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name=f"informer-{self.resource}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        _close(self._watch, self.resource)
        if self._thread is not None:
            self._thread.join(timeout)


def _close(watch: Any, resource: str) -> None:
    """End a watch from any thread: the API client's Watch has stop(), the fake's close()."""
    close = getattr(watch, "stop", None) or getattr(watch, "close", None)
    if close:
        try:
            close()
        except Exception:
            log.debug("%s informer: closing the watch failed", resource, exc_info=True)


def _rv(obj: Obj) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


class InformerFactory:
    """One informer per resource, shared by every loop that reads it (SharedInformerFactory)."""

    def __init__(self, client: Any, **options: Any) -> None:
        self.client, self.options = client, options
        self._informers: dict[str, Informer] = {}
        self._started = False

    def informer(self, resource: str) -> Informer:
        inf = self._informers.get(resource)
        if inf is None:
            inf = self._informers[resource] = Informer(self.client, resource, **self.options)
            if self._started:
                inf.start()
        return inf

    def all(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        self._started = True
        for inf in self._informers.values():
            inf.start()

    def wait_for_sync(self, timeout: float = 30.0) -> bool:
        return all(inf.wait_for_sync(timeout) for inf in self._informers.values())

    def stop(self) -> None:
        for inf in self._informers.values():
            inf._stop.set()
        for inf in self._informers.values():
            inf.stop()

    def relist_all(self) -> None:
        """Bring every cache up to date in the caller's thread (the unit tests' 'pump')."""
        for inf in self._informers.values():
            inf.relist()
