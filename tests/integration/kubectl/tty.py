"""Driving `kubectl exec -it` from a test: kubectl on a pseudo-terminal that is its controlling tty."""

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


def _read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no {needle!r} in {bytes(seen)[-500:]!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: kubectl has exited
            chunk = b""
        if not chunk:
            raise AssertionError(f"kubectl ended before {needle!r}: {bytes(seen)[-500:]!r}")
        seen += chunk
    return bytes(seen)


def _winsize(rows: int, cols: int) -> bytes:
    return struct.pack("HHHH", rows, cols, 0, 0)


def tty_session(
    argv: list[str],
    exit_code: int = 5,
    typed: tuple[tuple[bytes, bytes], ...] = (),
    kubeconfig: str | None = None,
) -> tuple[bytes, int]:
    """Run `kubectl exec -it ... -- sh` on a pty of 24x80: type each (command, what it must print)
    of `typed`, check `stty size`, resize to 40x100 and check again, `exit <exit_code>`. Returns
    everything kubectl printed and its exit code. (The terminal echoes what we type, so what a
    command must print has to differ from its own text.) `kubeconfig` goes in $KUBECONFIG, for
    argv without --kubeconfig."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"TERM": "xterm"}
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    size = _winsize(24, 80)
    pid, master = pty.fork()
    if pid == 0:  # the child: kubectl on a terminal 24x80 that is its controlling tty
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, size)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    seen = bytearray()
    try:
        for command, shows in typed:
            os.write(master, command + b"\n")
            _read_until(master, shows, seen)
        os.write(master, b"stty size; echo MA''RK1\n")
        out = _read_until(master, b"MARK1", seen)
        assert b"24 80" in out
        # The kernel sends SIGWINCH to kubectl; it sends a resize to the remote terminal.
        fcntl.ioctl(master, termios.TIOCSWINSZ, _winsize(40, 100))
        deadline = time.monotonic() + 20
        while True:  # the resize travels asynchronously: ask until it has arrived
            os.write(master, b"stty size; echo MA''RK2\n")
            out = _read_until(master, b"MARK2", seen)
            if b"40 100" in out or time.monotonic() > deadline:
                break
            del seen[:]
        assert b"40 100" in out
        os.write(master, b"exit %d\n" % exit_code)
        with contextlib.suppress(AssertionError):
            _read_until(master, b"\0never", seen, timeout=20)  # read to EOF
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(master)
    return bytes(seen), os.waitstatus_to_exitcode(status)
