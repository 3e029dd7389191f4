"""Fixtures for the real-kernel cgroup and security tests: a test cgroup, and a forked child to run in it."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable

import pytest

from minikube_py.runtime.cgroups import Cgroup, open_cgroup


class Child:
    """A forked child that waits for the parent's go-ahead, then runs body(child).

    Inside the child, say(text) sends a line to the parent and wait() blocks until
    the parent calls tell(). The parent starts it with start(cgroup): the child is
    moved into the cgroup *before* body runs.
    """

    def __init__(self, body: Callable[[Child], object]) -> None:
        self.body = body
        self._go_r, self._go_w = os.pipe()
        self._out_r, self._out_w = os.pipe()
        self.pid = 0
        self._buffer = b""

    # -- in the child --
    def say(self, text: str) -> None:
        os.write(self._out_w, text.encode() + b"\n")

    def wait(self) -> None:
        os.read(self._go_r, 1)

    # -- in the parent --
    def start(self, cgroup: Cgroup | None = None) -> Child:
        self.pid = os.fork()
        if self.pid == 0:
            code = 0
            try:
                os.close(self._go_w)
                os.close(self._out_r)
                self.wait()
                result = self.body(self)
                if result is not None:
                    self.say(f"result {result}")
            except BaseException as exc:  # noqa: BLE001 - report anything to the parent
                self.say(f"error {exc!r}")
                code = 1
            os._exit(code)
        os.close(self._go_r)
        os.close(self._out_w)
        try:
            if cgroup is not None:
                cgroup.add_process(self.pid)
        except BaseException:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            raise
        self.tell()
        return self

    def tell(self) -> None:
        os.write(self._go_w, b"g")

    def expect(self) -> str:
        while b"\n" not in self._buffer:
            chunk = os.read(self._out_r, 4096)
            if not chunk:
                raise EOFError(f"child {self.pid} ended without saying more")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def finish(self) -> tuple[int, str]:
        """Wait for the child; return (its wait status, everything else it said)."""
        chunks = [self._buffer]
        while chunk := os.read(self._out_r, 4096):
            chunks.append(chunk)
        _, status = os.waitpid(self.pid, 0)
        os.close(self._out_r)
        os.close(self._go_w)
        return status, b"".join(chunks).decode()


@pytest.fixture
def cgroup_factory():
    """open_cgroup(...) under a unique mkpyt-cg-* top; everything is killed and removed afterwards."""
    top = f"mkpyt-cg-{uuid.uuid4().hex[:8]}"
    made: list[Cgroup] = []

    def make(sub: str = "c1") -> Cgroup:
        cg = open_cgroup(f"/{top}/{sub}")
        made.append(cg)
        return cg

    make.top = top  # type: ignore[attr-defined]
    yield make
    for cg in reversed(made):
        try:
            cg.kill_all()
        finally:
            cg.destroy(prune=True)


@pytest.fixture
def cgroup(cgroup_factory) -> Cgroup:
    cg = cgroup_factory()
    cg.create()
    return cg
