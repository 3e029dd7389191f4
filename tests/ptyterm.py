"""A program on a pseudo-terminal that is its controlling tty: how a test types into `kubectl exec -it`,
`kubectl attach -it`, `kubectl run -it` or `mkpy exec -it` the way a person at a keyboard would.

The terminal echoes what is typed, so what a command must print has to differ from its own text
(the tests write `echo MA''RK1` and wait for `MARK1`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time


def winsize(rows: int, cols: int) -> bytes:
    """struct winsize for TIOCSWINSZ (rows, columns; the pixel sizes stay 0)."""
    return struct.pack("HHHH", rows, cols, 0, 0)


def read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 20) -> bytes:
    """Read fd into `seen` until `needle` is in it; AssertionError (with the tail) on timeout or EOF."""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no {needle!r} in {bytes(seen)[-500:]!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the program has exited and the pty is closed
            chunk = b""
        if not chunk:
            raise AssertionError(f"the program ended before {needle!r}: {bytes(seen)[-500:]!r}")
        seen += chunk
    return bytes(seen)


class Terminal:
    """argv started on a new pty of rows x cols that is its controlling terminal.

    Use as a context manager: leaving it kills the program if it is still running (only after a
    failed test: finish() waits for it otherwise) and closes our end."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 24, cols: int = 80):
        size = winsize(rows, cols)
        self.seen = bytearray()
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: the pty is its stdio and its controlling terminal
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, size)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)

    def type(self, line: bytes) -> None:
        os.write(self.master, line + b"\n")

    def read_until(self, needle: bytes, timeout: float = 20, fresh: bool = False) -> bytes:
        """What the program printed, up to `needle`; fresh=True forgets what was read before."""
        if fresh:
            del self.seen[:]
        return read_until(self.master, needle, self.seen, timeout)

    def ask(self, line: bytes, needle: bytes, want: bytes, timeout: float = 30) -> bytes:
        """Type `line` (which prints `needle`) again and again until `want` shows before `needle`:
        for what travels asynchronously (a resize, an attach that is not through yet)."""
        deadline = time.monotonic() + timeout
        while True:
            self.type(line)
            with contextlib.suppress(AssertionError):
                out = self.read_until(needle, timeout=min(5.0, max(deadline - time.monotonic(), 0.5)),
                                      fresh=True)
                if want in out:
                    return out
            assert time.monotonic() < deadline, f"no {want!r} after {line!r}: {bytes(self.seen)[-500:]!r}"

    def resize(self, rows: int, cols: int) -> None:
        """The kernel sends the program SIGWINCH, as when a window is resized."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, winsize(rows, cols))

    def finish(self, timeout: float = 20) -> int:
        """Read to EOF and reap the program: its exit code."""
        with contextlib.suppress(AssertionError):
            read_until(self.master, b"\0never", self.seen, timeout)
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        return os.waitstatus_to_exitcode(status)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0
        os.close(self.master)
