"""The work queue every loop pulls keys from (client-go's rate-limited delaying queue).

Three promises, the same as client-go's:
- a key is queued at most once however many events name it (events coalesce: the loop
  reconciles the *latest* state, so ten changes cost one sync);
- a key being processed is never handed to a second worker; if it changes meanwhile it is
  queued again when the first worker calls done();
- a failing key comes back later, each failure doubling the wait (rate-limited requeue).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable


class WorkQueue:
    def __init__(
        self,
        *,
        base_delay: float = 0.005,
        max_delay: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()  # queued, or to requeue after done()
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []  # heap of (due, seq, key)
        self._seq = 0
        self._failures: dict[str, int] = {}
        self._shutdown = False
        self.base_delay, self.max_delay, self.clock = base_delay, max_delay, clock

    # ------------------------------------------------------------ adding
    def add(self, key: str) -> None:
        with self._cond:
            if self._shutdown or key in self._dirty:
                return
            self._dirty.add(key)
            if key not in self._processing:
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutdown:
                return
            self._seq += 1
            heapq.heappush(self._delayed, (self.clock() + delay, self._seq, key))
            self._cond.notify()

    def add_rate_limited(self, key: str) -> float:
        """Requeue after a failure: base_delay * 2**failures, capped at max_delay."""
        with self._cond:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
        delay = min(self.base_delay * (2**n), self.max_delay)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """The key synced: its next failure starts again from base_delay."""
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    # ------------------------------------------------------------ taking
    def _promote_due(self) -> float | None:
        """Move due delayed keys to the queue; return seconds until the next one, if any."""
        now = self.clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            if key not in self._dirty:
                self._dirty.add(key)
                if key not in self._processing:
                    self._queue.append(key)
        return self._delayed[0][0] - now if self._delayed else None

    def get(self, timeout: float | None = None) -> str | None:
        """The next key (mark it processing), or None on timeout or shutdown."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._shutdown:
                    return None
                next_due = self._promote_due()
                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                wait = next_due
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    # ------------------------------------------------------------ state
    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def ready_len(self) -> int:
        """Keys that could be handed out now (delayed ones that are due included)."""
        with self._cond:
            self._promote_due()
            return len(self._queue)

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._delayed)
