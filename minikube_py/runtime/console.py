"""Terminals: a pty made inside the container, its master handed out over a unix socket.

runc's console-socket protocol: the caller listens on a unix socket and passes
its path as --console-socket; the container's process opens /dev/ptmx from the
container's *own* devpts, makes the slave its controlling terminal and stdio, and
sends the master fd over the socket (SCM_RIGHTS; the message text is the pty's name).

Without --console-socket (`exec -t`, or `run` of a config with process.terminal)
the runtime plays the caller's part over a socketpair and then proxies: it copies
its own stdin to the master and the master to its stdout. When its stdin is a
terminal too (a user's shell, or the kubelet's pty for `kubectl exec -t`), the
proxy does what runc's does: puts that terminal in raw mode (the container's pty
already echoes and cooks input; two line disciplines would do it twice) and copies
its window size to the container's pty at the start and on every SIGWINCH. Setting
a pty's size (TIOCSWINSZ) is what makes the kernel send SIGWINCH to the foreground
process group of the pty, which is how a shell or `top` in the container learns it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import socket
import termios
from typing import Any


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return sock


def setup_terminal(sys: Any, sock: socket.socket) -> None:
    """In the container (after pivot_root): new pty, slave -> stdio + controlling tty, master -> sock.

    The caller must already lead a session of its own with no terminal (setsid()):
    only then does TIOCSCTTY make the slave its controlling terminal, so job control
    works and a resize reaches the foreground process group as SIGWINCH.
    """
    master, slave = os.openpty()  # /dev/ptmx is a symlink to the container's pts/ptmx
    name = os.ttyname(slave)
    sys.note("openpty", why="the process's terminal, from the container's devpts", pty=name)
    socket.send_fds(sock, [name.encode()], [master])
    os.close(master)
    sock.close()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    sys.note("ioctl", why="TIOCSCTTY: the pty becomes our controlling terminal", pty=name)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def receive_master(sock: socket.socket) -> int:
    _, fds, _, _ = socket.recv_fds(sock, 1024, 1)
    if not fds:
        raise OSError("the container sent no terminal")
    return fds[0]


def copy_window_size(source: int, target: int) -> None:
    """TIOCGWINSZ on one terminal, TIOCSWINSZ on the other (the kernel then signals SIGWINCH)."""
    try:
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # one side is gone: nothing left to resize


def _adopt_terminal(fd: int) -> None:
    """Make `fd` our controlling terminal if we lead a session that has none.

    A caller that starts us with start_new_session (the kubelet does) gives us a pty
    as stdio but no controlling terminal, and SIGWINCH is only sent to the processes
    of a terminal's foreground process group. TIOCSCTTY fails harmlessly (EPERM) if
    the terminal already belongs to another session.
    """
    if os.getsid(0) != os.getpid():
        return
    try:
        os.close(os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY))
        return  # we have one already
    except OSError:
        pass
    try:
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
    except OSError:
        pass


def _raw(fd: int) -> list[Any]:
    """Raw mode, as cfmakeraw() sets it; returns the old settings for tcsetattr."""
    old = termios.tcgetattr(fd)
    new = list(old)
    new[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
                | termios.IGNCR | termios.ICRNL | termios.IXON)
    new[1] &= ~termios.OPOST
    new[2] &= ~(termios.CSIZE | termios.PARENB)
    new[2] |= termios.CS8
    new[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    new[6] = list(new[6])
    new[6][termios.VMIN], new[6][termios.VTIME] = 1, 0
    termios.tcsetattr(fd, termios.TCSANOW, new)
    return old


def proxy(master: int, stdin: int = 0, stdout: int = 1) -> None:
    """Copy stdin -> pty and pty -> stdout until every process has closed the pty's slave side."""
    interactive = os.isatty(stdin)
    saved: list[Any] | None = None
    old_handler: Any = None
    if interactive:
        _adopt_terminal(stdin)
        try:
            saved = _raw(stdin)
        except termios.error:
            saved = None
        copy_window_size(stdin, master)
        old_handler = signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(stdin, master))
    try:
        _copy(master, stdin, stdout)
    finally:
        if interactive:
            signal.signal(signal.SIGWINCH, old_handler)
            if saved is not None:
                try:
                    termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
                except termios.error:
                    pass


def _copy(master: int, stdin: int, stdout: int) -> None:
    inputs = [master, stdin]
    while True:
        ready, _, _ = select.select(inputs, [], [])
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: no process holds the slave any more
                return
            if not data:
                return
            _write_all(stdout, data)
        if stdin in ready:
            try:
                data = os.read(stdin, 65536)
            except OSError as exc:  # EIO: the caller's terminal hung up
                if exc.errno != errno.EIO:
                    raise
                data = b""
            if data:
                _write_all(master, data)
            else:
                inputs.remove(stdin)  # our input ended; keep reading the output


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
