"""The reconcile loop every controller is: informers -> work queue -> sync(key).

A controller subclass
- registers handlers on the informers it reads; a handler turns an event into a key
  (`namespace/name` of the object to reconcile) and adds it to the queue;
- implements `sync(key)`: read the cache, compare desired with actual, write the difference.
  It returns None when done, or a number of seconds to look again (a deadline to check);
  raising makes the key come back with exponential backoff.
Workers are threads; the queue guarantees one key is never synced by two at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from minikube_py.api.informer import InformerFactory

from .client import ApiClient, error_code, is_conflict
from .events import EventRecorder
from .workqueue import WorkQueue

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class Controller:
    name = "controller"
    workers = 1

    def __init__(
        self,
        client: ApiClient,
        informers: InformerFactory,
        recorder: EventRecorder,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client, self.informers, self.recorder, self.clock = client, informers, recorder, clock
        self.queue = WorkQueue()
        self._threads: list[threading.Thread] = []
        self.syncs = 0
        self.errors = 0

    # ------------------------------------------------------------ to implement
    def sync(self, key: str) -> float | None:
        raise NotImplementedError

    # ------------------------------------------------------------ running
    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    def process_one(self, timeout: float | None = None) -> bool:
        """Take one key, sync it, and decide when it comes back. False if none came."""
        key = self.queue.get(timeout)
        if key is None:
            return False
        try:
            self.syncs += 1
            again = self.sync(key)
            self.queue.forget(key)
            if again is not None:
                self.queue.add_after(key, again)
        except Exception as exc:
            self.errors += 1
            delay = self.queue.add_rate_limited(key)
            # A conflict is ordinary (our cache was one write behind): no traceback for it.
            quiet = is_conflict(exc) or error_code(exc) == 404
            log.log(
                logging.DEBUG if quiet else logging.WARNING,
                "%s: sync %s failed (%s); retry in %.3fs",
                self.name,
                key,
                exc,
                delay,
                exc_info=not quiet and error_code(exc) is None,
            )
        finally:
            self.queue.done(key)
        return True

    def _worker(self) -> None:
        while self.process_one():
            pass

    def start(self) -> None:
        for i in range(self.workers):
            t = threading.Thread(target=self._worker, name=f"{self.name}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        self.queue.shutdown()
        for t in self._threads:
            t.join(timeout)

    def drain(self, limit: int = 10000) -> int:
        """Sync every key that is ready now, in this thread (for unit tests). Returns how many."""
        n = 0
        while n < limit and self.queue.ready_len() > 0:
            self.process_one(timeout=0)
            n += 1
        return n


class Expectations:
    """What a controller has asked for and not yet seen in its cache (client-go's expectations).

    After creating 3 pods, the pod cache lags behind the API for a moment; a sync in that
    window would count 0 new pods and create 3 more. So the loop records "expect 3 adds"
    and does not act on that owner again until its informer has shown it the 3 pods
    (or until `ttl` passes, in case an event was missed)."""

    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._want: dict[str, tuple[int, set[str], float]] = {}
        self.ttl, self.clock = ttl, clock

    def expect(self, key: str, adds: int = 0, deletes: set[str] | None = None) -> None:
        with self._lock:
            self._want[key] = (adds, set(deletes or ()), self.clock())

    def creation_observed(self, key: str) -> None:
        with self._lock:
            if key in self._want:
                adds, dels, t = self._want[key]
                self._want[key] = (adds - 1, dels, t)

    def lower_adds(self, key: str, n: int) -> None:
        """n creations failed: do not wait for them."""
        with self._lock:
            if key in self._want:
                adds, dels, t = self._want[key]
                self._want[key] = (adds - n, dels, t)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        with self._lock:
            if key in self._want:
                self._want[key][1].discard(pod_key)

    def satisfied(self, key: str) -> bool:
        with self._lock:
            want = self._want.get(key)
            if want is None:
                return True
            adds, dels, t = want
            return (adds <= 0 and not dels) or self.clock() - t > self.ttl

    def forget(self, key: str) -> None:
        with self._lock:
            self._want.pop(key, None)
