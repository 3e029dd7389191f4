"""Events: what `kubectl describe` shows under "Events", recorded like client-go's recorder.

An Event names the object it is about (involvedObject), why (reason, CamelCase), what
(message), and who said it (source.component). The same event happening again does not
make a new object: the recorder finds the one it made before (same source, object, type,
reason and message) and bumps its `count` and `lastTimestamp`. That is why describe prints
`(x18 over 8h)`. Event names are `<object name>.<hex unix nanoseconds>`, as client-go's.
Like client-go's aggregator, when one object gets more than 10 events with the same reason
but different messages within 10 minutes, further ones go into a single event whose
message starts with "(combined from similar events): ".
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from minikube_py.k8s.meta import now_rfc3339

from .client import ApiClient, is_not_found

log = logging.getLogger(__name__)
Obj = dict[str, Any]

NORMAL, WARNING = "Normal", "Warning"
AGGREGATED = "(combined from similar events)"
AGGREGATE_MAX = 10  # distinct messages per object+reason before they are combined
AGGREGATE_WINDOW = 600.0  # seconds


def object_reference(obj: Obj) -> dict:
    md = obj.get("metadata") or {}
    ref = {
        "kind": obj.get("kind"),
        "namespace": md.get("namespace"),
        "name": md.get("name"),
        "uid": md.get("uid"),
        "apiVersion": obj.get("apiVersion"),
        "resourceVersion": md.get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    """Writes Events for one component; remembers the last ones it wrote to count repeats."""

    def __init__(
        self,
        client: ApiClient,
        component: str,
        host: str = "",
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = 4096,
    ) -> None:
        self.client, self.component, self.host, self.clock = client, component, host, clock
        self._lock = threading.Lock()
        # dedup key -> (namespace, event name, count)   (an LRU like client-go's)
        self._seen: OrderedDict[tuple, tuple[str, str, int]] = OrderedDict()
        # aggregate key (all but the message) -> (messages seen, when the window started)
        self._similar: OrderedDict[tuple, tuple[set[str], float]] = OrderedDict()
        self.cache_size = cache_size

    # ------------------------------------------------------------ background writing
    def start_background(self) -> None:
        """Write events from a thread of their own, as client-go's broadcaster does, so a
        loop never waits for an event write (a bind should not cost two round trips)."""
        if getattr(self, "_queue", None) is not None:
            return
        self._queue: queue.Queue | None = queue.Queue(maxsize=10000)
        self._writer = threading.Thread(target=self._drain, name=f"events-{self.component}", daemon=True)
        self._writer.start()

    def _drain(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            self._write(*item)
            self._queue.task_done()

    def flush(self) -> None:
        q = getattr(self, "_queue", None)
        if q is not None:
            q.join()

    def stop_background(self) -> None:
        q = getattr(self, "_queue", None)
        if q is not None:
            q.put(None)
            self._writer.join(5)
            self._queue = None

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> Obj | None:
        """Record (or count again) one event about obj. Never raises: events are best effort.
        In background mode it returns None at once; the write happens in the writer thread."""
        q = getattr(self, "_queue", None)
        if q is not None:
            try:
                q.put_nowait((obj, type_, reason, message))
            except queue.Full:
                log.warning("event queue full: dropped %s %s", reason, message)
            return None
        return self._write(obj, type_, reason, message)

    def _write(self, obj: Obj, type_: str, reason: str, message: str) -> Obj | None:
        try:
            return self._record(obj, type_, reason, message)
        except Exception as exc:  # noqa: BLE001 - an event must never fail the loop
            log.warning(
                "event %s/%s for %s not recorded: %s",
                type_,
                reason,
                (obj.get("metadata") or {}).get("name"),
                exc,
            )
            return None

    def _record(self, obj: Obj, type_: str, reason: str, message: str) -> Obj:
        ref = object_reference(obj)
        namespace = ref.get("namespace") or "default"
        similar = (
            self.component,
            self.host,
            ref.get("kind"),
            ref.get("namespace"),
            ref.get("name"),
            ref.get("uid"),
            ref.get("apiVersion"),
            type_,
            reason,
        )
        t = self.clock()
        with self._lock:
            messages, since = self._similar.get(similar, (set(), t))
            if t - since > AGGREGATE_WINDOW:
                messages, since = set(), t
            messages.add(message)
            self._similar[similar] = (messages, since)
            self._similar.move_to_end(similar)
            while len(self._similar) > self.cache_size:
                self._similar.popitem(last=False)
        if len(messages) > AGGREGATE_MAX:
            key = (*similar, AGGREGATED)
            message = f"{AGGREGATED}: {message}"
        else:
            key = (*similar, message)
        now = now_rfc3339(t)
        with self._lock:
            seen = self._seen.get(key)
        if seen is not None:
            ns, name, count = seen
            try:
                updated = self.client.patch(
                    "events",
                    name,
                    {"count": count + 1, "lastTimestamp": now, "message": message},
                    ns,
                    patch_type="merge",
                )
                self._remember(key, ns, name, count + 1)
                return updated
            except Exception as exc:
                if not is_not_found(exc):
                    raise
                # Someone deleted it (namespace cleanup, TTL): start a new one.
        name = f"{ref.get('name')}.{time.time_ns():x}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }
        created = self.client.create("events", event, namespace)
        self._remember(key, namespace, name, 1)
        return created

    def _remember(self, key: tuple, ns: str, name: str, count: int) -> None:
        with self._lock:
            self._seen[key] = (ns, name, count)
            self._seen.move_to_end(key)
            while len(self._seen) > self.cache_size:
                self._seen.popitem(last=False)
