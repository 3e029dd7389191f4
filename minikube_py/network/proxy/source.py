"""Where the proxy, DNS and policy learn about the cluster: a cache fed by watch events.

The API server is one possible feeder (its client's `watch()` yields the same
(type, object) events); tests and benchmarks feed objects directly:

    objects = ClusterObjects()
    objects.apply("Service", svc)                      # ADDED or MODIFIED
    objects.event("Endpoints", "DELETED", endpoints)   # exactly a watch event
    objects.subscribe(lambda kind: proxier.sync())     # react at once

Keys are (namespace, name); Namespaces are keyed ("", name).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from minikube_py.network.proxy.errors import ProxyError

KINDS = ("Service", "Endpoints", "Pod", "Namespace", "NetworkPolicy")
Key = tuple[str, str]


def key_of(kind: str, obj: dict) -> Key:
    meta = obj.get("metadata") or {}
    if not meta.get("name"):
        raise ProxyError(f"{kind}: metadata.name is missing")
    if kind == "Namespace":
        return ("", meta["name"])
    return (meta.get("namespace") or "default", meta["name"])


class ClusterObjects:
    """A thread-safe map kind -> key -> object, with change callbacks."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._objects: dict[str, dict[Key, dict]] = {k: {} for k in KINDS}
        self._listeners: list[Callable[[str], None]] = []
        self.generation = 0  # bumps on every change; lets a consumer skip work when nothing moved

    def _check(self, kind: str) -> None:
        if kind not in KINDS:
            raise ProxyError(f"kind {kind!r} is not one of {', '.join(KINDS)}")

    def event(self, kind: str, type_: str, obj: dict) -> None:
        """Apply one watch event: ADDED, MODIFIED or DELETED."""
        self._check(kind)
        if type_ not in ("ADDED", "MODIFIED", "DELETED"):
            raise ProxyError(f"watch event type {type_!r} is not ADDED, MODIFIED or DELETED")
        key = key_of(kind, obj)
        with self._lock:
            if type_ == "DELETED":
                if self._objects[kind].pop(key, None) is None:
                    return
            else:
                self._objects[kind][key] = obj
            self.generation += 1
        self._notify(kind)

    def apply(self, kind: str, obj: dict) -> None:
        self.event(kind, "MODIFIED", obj)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        meta = {"name": name} if kind == "Namespace" else {"name": name, "namespace": namespace}
        self.event(kind, "DELETED", {"metadata": meta})

    def replace(self, kind: str, objs: Iterable[dict]) -> None:
        """A LIST result: the whole set of objects of a kind."""
        self._check(kind)
        new = {key_of(kind, o): o for o in objs}
        with self._lock:
            self._objects[kind] = new
            self.generation += 1
        self._notify(kind)

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        with self._lock:
            return self._objects[kind].get(("" if kind == "Namespace" else namespace, name))

    def list(self, kind: str) -> list[dict]:
        with self._lock:
            return [self._objects[kind][k] for k in sorted(self._objects[kind])]

    def subscribe(self, callback: Callable[[str], None]) -> None:
        self._listeners.append(callback)

    def _notify(self, kind: str) -> None:
        for cb in list(self._listeners):
            cb(kind)

    def feed(self, kind: str, events: Iterable[tuple[str, dict]]) -> None:
        """Consume a watch stream of (type, object) pairs until it ends (run it in a thread)."""
        for type_, obj in events:
            if type_ in ("ADDED", "MODIFIED", "DELETED"):
                self.event(kind, type_, obj)


# Resource names the API client takes for each kind this cache holds.
RESOURCES = {"Service": "services", "Endpoints": "endpoints", "Pod": "pods", "Namespace": "namespaces",
             "NetworkPolicy": "networkpolicies"}


class Follower:
    """Keep a ClusterObjects equal to the API: LIST each kind, then WATCH from that resourceVersion.

    `client` is anything with the API client's list(resource) and watch(resource, resource_version=)
    (minikube_py.api.client.Client); it is passed in, so this layer does not import the API's code.
    On an error (e.g. 410 Expired) the kind is listed again and watched anew.
    """

    def __init__(self, client: Any, objects: ClusterObjects, kinds: Iterable[str] = ("Service", "Endpoints"),
                 retry_seconds: float = 1.0) -> None:
        self.client = client
        self.objects = objects
        self.kinds = list(kinds)
        for kind in self.kinds:
            objects._check(kind)
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._watches: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._listed = {kind: threading.Event() for kind in self.kinds}
        self.errors: list[str] = []

    def wait_synced(self, timeout: float | None = None) -> bool:
        """True once every kind was listed at least once (kube-proxy waits for this before its first
        sync: rules made from Services whose Endpoints were not listed yet would REJECT for a moment)."""
        return all(e.wait(timeout) for e in self._listed.values())

    def sync_once(self, kind: str) -> str:
        """LIST one kind into the cache; returns the list's resourceVersion to watch from."""
        listed = self.client.list(RESOURCES[kind])
        self.objects.replace(kind, listed.get("items") or [])
        self._listed[kind].set()
        return (listed.get("metadata") or {}).get("resourceVersion") or ""

    def _run(self, kind: str) -> None:
        while not self._stop.is_set():
            try:
                rv = self.sync_once(kind)
                watch = self.client.watch(RESOURCES[kind], resource_version=rv or None)
                self._watches.append(watch)
                for event in watch:
                    if self._stop.is_set():
                        return
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        self.objects.event(kind, event["type"], event["object"])
            except Exception as exc:  # noqa: BLE001 - any API trouble: note it, list again
                self.errors.append(f"{kind}: {exc}")
            self._stop.wait(self.retry_seconds)

    def start(self) -> Follower:
        for kind in self.kinds:
            t = threading.Thread(target=self._run, args=(kind,), name=f"mkpy-follow-{kind}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for w in self._watches:
            stop = getattr(w, "stop", None)
            if stop:
                stop()
        for t in self._threads:
            t.join(timeout=5)


class SyncLoop:
    """Call `work()` whenever objects of `kinds` change (bursts coalesce into one call), until stop().

    A failing call does not stop the loop: the error is kept in .last_error and the next
    change (or retry_seconds, if given) tries again.
    """

    def __init__(self, objects: ClusterObjects, kinds: Iterable[str], work: Callable[[], object],
                 min_interval: float = 0.05, name: str = "mkpy-sync",
                 retry_seconds: float | None = 5.0, period: float | None = None) -> None:
        self.kinds = set(kinds)
        self.period = period  # also run at least this often, changes or not
        self.work = work
        self.min_interval = min_interval
        self.retry_seconds = retry_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.last_error: Exception | None = None
        self.syncs = 0
        objects.subscribe(lambda kind: self._wake.set() if kind in self.kinds else None)

    def start(self) -> SyncLoop:
        self._wake.set()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = self.retry_seconds if self.last_error is not None else self.period
            self._wake.wait(timeout)
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                self.work()
                self.syncs += 1
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - keep going; the error is kept for whoever looks
                self.last_error = exc
            self._stop.wait(self.min_interval)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
