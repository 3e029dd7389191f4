"""Terminals: a pty made inside the container, its master handed out over a unix socket.

runc's console-socket protocol: the caller listens on a unix socket and passes
its path as --console-socket; the container's init opens /dev/ptmx from its
*own* devpts, makes the slave its controlling terminal and stdio, and sends the
master fd over the socket (SCM_RIGHTS; the message text is the pty's name).
`exec -t` uses the same code with a socketpair and proxies the master itself.
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
import termios
from typing import Any


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return sock


def setup_terminal(sys: Any, sock: socket.socket) -> None:
    """In the container (after pivot_root): new pty, slave -> stdio + controlling tty, master -> sock."""
    master, slave = os.openpty()  # /dev/ptmx is a symlink to the container's pts/ptmx
    name = os.ttyname(slave)
    sys.note("openpty", why="the process's terminal, from the container's devpts", pty=name)
    socket.send_fds(sock, [name.encode()], [master])
    os.close(master)
    sock.close()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def receive_master(sock: socket.socket) -> int:
    _, fds, _, _ = socket.recv_fds(sock, 1024, 1)
    if not fds:
        raise OSError("the container sent no terminal")
    return fds[0]


def proxy(master: int, stdin: int = 0, stdout: int = 1) -> None:
    """Copy stdin -> pty and pty -> stdout until the pty's slave side is closed by every process."""
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
            os.write(stdout, data)
        if stdin in ready:
            data = os.read(stdin, 65536)
            if data:
                os.write(master, data)
            else:
                inputs.remove(stdin)  # our input ended; keep reading the output
