"""kubelet's back-off (client-go flowcontrol.Backoff): 10 s, doubling, capped at 300 s.

One entry per key ("<pod uid>/<container name>" for restarts, "<pod uid>_<image>" for
pulls). An entry is forgotten when the event it is asked about comes more than
2 x max (10 minutes) after its last update: a container that ran cleanly for 10
minutes and then crashed starts over at 10 s. The clock is injected so tests
step time instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

INITIAL = 10.0
MAX = 300.0


@dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    def __init__(self, initial: float = INITIAL, maximum: float = MAX,
                 clock: Callable[[], float] = time.time) -> None:
        self.initial, self.maximum, self.clock = initial, maximum, clock
        self._items: dict[str, _Entry] = {}

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > 2 * self.maximum

    def next(self, key: str, event_time: float) -> None:
        """Record an attempt made now about an event at `event_time` (e.g. the crash)."""
        entry = self._items.get(key)
        if entry is None or self._expired(event_time, entry):
            entry = _Entry(self.initial, 0.0)
        else:
            entry.backoff = min(entry.backoff * 2, self.maximum)
        entry.last_update = self.clock()
        self._items[key] = entry

    def get(self, key: str) -> float:
        entry = self._items.get(key)
        return entry.backoff if entry else 0.0

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        """True while less than the current delay has passed since `event_time` (a crash)."""
        entry = self._items.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        return self.clock() - event_time < entry.backoff

    def in_backoff_since_update(self, key: str) -> bool:
        """True while less than the current delay has passed since the last attempt (pulls)."""
        entry = self._items.get(key)
        if entry is None or self._expired(self.clock(), entry):
            return False
        return self.clock() - entry.last_update < entry.backoff

    def remaining(self, key: str, event_time: float) -> float:
        entry = self._items.get(key)
        return 0.0 if entry is None else max(0.0, entry.backoff - (self.clock() - event_time))

    def reset(self, key: str) -> None:
        self._items.pop(key, None)

    def gc(self) -> None:
        now = self.clock()
        for key in [k for k, e in self._items.items() if self._expired(now, e)]:
            del self._items[key]

    def to_dict(self) -> dict:
        return {k: [e.backoff, e.last_update] for k, e in self._items.items()}

    def load(self, data: dict) -> None:
        self._items = {k: _Entry(float(b), float(t)) for k, (b, t) in data.items()}


def format_duration(seconds: float) -> str:
    """Go's time.Duration text for whole seconds: 10s, 2m40s, 5m0s."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s}s"
    h, m = divmod(m, 60)
    return f"{h}h{m}m{s}s"
