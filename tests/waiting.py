"""Waiting in tests without fixed sleeps: poll until something is true, or fail saying what."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, fn: Callable[[], T], timeout: float = 30.0, interval: float = 0.1,
             retry_on: tuple[type[BaseException], ...] = ()) -> T:
    """fn()'s first truthy value, asked every `interval` seconds. After `timeout` seconds an
    AssertionError names `what` and fn()'s last answer. An exception in `retry_on` counts as
    "not yet" (a server still starting, a link not up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
        except retry_on as e:
            value = None
            last: object = e
        else:
            last = value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r:.300})")
        time.sleep(interval)
