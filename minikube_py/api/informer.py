"""An informer: a local, always-fresh copy of one resource, kept by list-then-watch.

Every controller needs the same loop, so it lives here once (client-go calls it a
reflector + informer):

  1. LIST   -> fill the cache, remember the list's resourceVersion
  2. WATCH from that resourceVersion -> apply each event to the cache, call the handlers
  3. the stream ends -> watch again from the last resourceVersion seen (nothing is missed)
  4. 410 Gone (the revision was compacted) -> back to 1 (a fresh list; handlers see the difference)

    inf = Informer(client, "pods", field_selector="spec.nodeName=node-1",
                   on_add=..., on_update=lambda old, new: ..., on_delete=...)
    inf.start(); inf.wait_synced(); inf.get("default", "web"); inf.stop()
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .client import Client, Watch
from .errors import ApiError

Obj = dict[str, Any]


def key_of(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta["name"]


class Informer:
    def __init__(
        self,
        client: Client,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> None:
        self.client, self.resource, self.namespace = client, resource, namespace
        self.label_selector, self.field_selector = label_selector, field_selector
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete
        self._cache: dict[tuple[str, str], Obj] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stopped = threading.Event()
        self._watch: Watch | None = None
        self._thread: threading.Thread | None = None
        self.relists = 0  # how often a 410 forced a fresh list (for tests and curiosity)

    # ------------------------------------------------------------------ reading the cache
    def get(self, namespace: str | None, name: str) -> Obj | None:
        with self._lock:
            return self._cache.get((namespace or "", name))

    def list(self) -> list[Obj]:
        with self._lock:
            return list(self._cache.values())

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    # ------------------------------------------------------------------ running
    def start(self) -> Informer:
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.resource}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._watch is not None:
            self._watch.stop()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                rv = self._relist()
                self._watch = self.client.watch(
                    self.resource,
                    self.namespace,
                    resource_version=rv,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                    bookmarks=True,
                )
                for event in self._watch:
                    self._apply(event["type"], event["object"])
            except ApiError as e:
                if e.code != 410:
                    self._stopped.wait(1.0)  # a real error: do not hammer the server
                else:
                    self.relists += 1
            except OSError:
                self._stopped.wait(1.0)

    def _relist(self) -> str:
        listed = self.client.list(
            self.resource,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        fresh = {key_of(o): o for o in listed["items"]}
        with self._lock:
            old, self._cache = self._cache, dict(fresh)
        # Tell the handlers what changed while we were not watching.
        for k, obj in fresh.items():
            if k not in old:
                self._call(self.on_add, obj)
            elif old[k]["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._call(self.on_update, old[k], obj)
        for k, obj in old.items():
            if k not in fresh:
                self._call(self.on_delete, obj)
        self._synced.set()
        return listed["metadata"]["resourceVersion"]

    def _apply(self, kind: str, obj: Obj) -> None:
        if kind == "BOOKMARK":
            return
        k = key_of(obj)
        with self._lock:
            old = self._cache.get(k)
            if kind == "DELETED":
                self._cache.pop(k, None)
            else:
                self._cache[k] = obj
        if kind == "DELETED":
            self._call(self.on_delete, obj)
        elif old is None:
            self._call(self.on_add, obj)
        else:
            self._call(self.on_update, old, obj)

    @staticmethod
    def _call(fn: Callable | None, *args: Obj) -> None:
        if fn is not None:
            fn(*args)
