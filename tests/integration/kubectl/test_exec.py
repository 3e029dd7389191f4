"""`kubectl exec` with real kubectl: 1.20 speaks SPDY/3.1, the newest bundled one WebSocket v5."""

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

import pytest

from minikube_py.api import streaming

from .conftest import NEWEST, POD


@pytest.fixture(params=["1.20", "newest"])
def kubectl(request, cluster):
    """(binary, transport it must use) for each kubectl."""
    if request.param == "1.20":
        return request.getfixturevalue("kubectl_120"), "spdy"
    return NEWEST, "websocket"


def _sessions(transport: str) -> int:
    return streaming.SESSIONS[("exec", transport)]


def test_exec_prints_output(cluster, kubectl):
    binary, transport = kubectl
    before = _sessions(transport)
    out = cluster.kubectl(binary, "exec", POD, "--", "echo", "hi")
    assert out.stdout == "hi\n"
    assert _sessions(transport) == before + 1  # it really went over SPDY (1.20) / WebSocket (newest)


def test_exec_exit_code(cluster, kubectl):
    binary, _ = kubectl
    out = cluster.kubectl(binary, "exec", POD, "--", "sh", "-c", "echo to-err >&2; exit 3", check=False)
    assert "command terminated with exit code 3" in out.stderr
    assert "to-err" in out.stderr
    assert out.returncode == 3


def test_exec_stdin(cluster, kubectl):
    binary, _ = kubectl
    out = cluster.kubectl(
        binary, "exec", "-i", POD, "--", "sh", "-c", "tr a-z A-Z; echo done", input="hello\nworld\n"
    )
    assert out.stdout == "HELLO\nWORLD\ndone\n"


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


def test_exec_tty_typing_resize_exit(cluster, kubectl):
    """`kubectl exec -it POD -- sh` on a real terminal: what we type runs, a window resize reaches
    the remote terminal (`stty size`), and the shell's exit code comes back."""
    binary, _ = kubectl
    argv = [binary, "--kubeconfig", cluster.kubeconfig, "exec", "-it", POD, "--", "sh"]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"TERM": "xterm"}
    size = _winsize(24, 80)
    pid, master = pty.fork()
    if pid == 0:  # the child: kubectl on a terminal 24x80 that is its controlling tty
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, size)
            os.execve(binary, argv, env)
        finally:
            os._exit(127)
    seen = bytearray()
    try:
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
        os.write(master, b"exit 5\n")
        with contextlib.suppress(AssertionError):
            _read_until(master, b"\0never", seen, timeout=20)  # read to EOF
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(master)
    assert b"command terminated with exit code 5" in seen
    assert os.waitstatus_to_exitcode(status) == 5


def test_python_client_stream_exec(cluster):
    """The official client's `stream(connect_get_namespaced_pod_exec, ...)` (WebSocket v4)."""
    from kubernetes import client as k8s
    from kubernetes import config as kconfig
    from kubernetes.stream import stream

    v1 = k8s.CoreV1Api(kconfig.new_client_from_config(config_file=cluster.kubeconfig))
    out = stream(
        v1.connect_get_namespaced_pod_exec,
        POD,
        "default",
        command=["sh", "-c", "echo hi; echo oops >&2"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    assert "hi" in out and "oops" in out
    resp = stream(
        v1.connect_get_namespaced_pod_exec,
        POD,
        "default",
        command=["sh", "-c", "read x; echo got-$x; exit 4"],
        stdout=True,
        stderr=True,
        stdin=True,
        tty=False,
        _preload_content=False,
    )
    resp.write_stdin("abc\n")
    resp.run_forever(timeout=20)
    assert "got-abc" in resp.read_stdout()
    assert resp.returncode == 4
    resp.close()
