"""Run a function with the calling *thread* inside another network namespace.

setns(CLONE_NEWNET) changes the namespace of one thread only, and a socket stays in
the namespace it was created in. So a fresh thread can join the node's namespace,
open netlink or UDP/TCP sockets there, and hand them back: the rest of the process
never leaves its own namespace, and no fork of a multi-threaded process is needed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

from minikube_py.kernel.syscalls import Syscalls

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


def enter_netns(path: str, sys: Syscalls | None = None) -> None:
    """Move the calling thread into the network namespace at `path` (for the thread's whole life)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        (sys or Syscalls()).setns(fd, CLONE_NEWNET, why="work inside the node's network namespace", path=path)
    finally:
        os.close(fd)


def run_in_netns(path: str | None, fn: Callable[[], T], sys: Syscalls | None = None) -> T:
    """fn() run in a short-lived thread that first joined `path`; None runs fn here."""
    if path is None:
        return fn()
    box: dict[str, object] = {}

    def body() -> None:
        try:
            enter_netns(path, sys)
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=body, name="mkpy-netns", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
