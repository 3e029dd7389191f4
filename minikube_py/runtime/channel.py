"""Typed messages between the runtime (parent) and the container's init (child).

A SOCK_SEQPACKET socketpair keeps message boundaries, so each message is one
JSON object {"type": ..., ...}. The conversation during `create`:

    clone helper -> parent   {"type": "pid", "pid": N}          the init exists
    parent -> init           {"type": "go", "pid": N}           cgroup joined, id maps written
    init -> parent           {"type": "hooks", "stage": "createRuntime"}   (only if there are hooks)
    parent -> init           {"type": "go"}
    init -> parent           {"type": "ready"}                  blocked on the exec FIFO next
 or init/helper -> parent    {"type": "error", "message": "..."}
"""

from __future__ import annotations

import json
import socket
from typing import Any

from minikube_py.runtime.errors import ContainerError

MAX_MESSAGE = 65536


def pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, kind: str, **fields: Any) -> None:
    sock.send(json.dumps({"type": kind, **fields}).encode())


def receive(sock: socket.socket, *expected: str, timeout: float | None = 60.0) -> dict[str, Any]:
    """The next message; an "error" message or an unexpected type becomes a ContainerError."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(MAX_MESSAGE)
    except TimeoutError:
        waited = '/'.join(expected)
        raise ContainerError(f"timed out waiting for {waited} from the container's init") from None
    finally:
        sock.settimeout(None)
    if not data:
        raise ContainerError("the container's init exited during create (see its trace)")
    message = json.loads(data)
    if message["type"] == "error":
        raise ContainerError(message["message"])
    if expected and message["type"] not in expected:
        raise ContainerError(f"protocol: expected {'/'.join(expected)}, got {message['type']!r}")
    return message
