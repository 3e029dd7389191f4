"""The kubelet's end of `kubectl exec`, `port-forward` and `logs -f`: channels on a WebSocket.

The API server (minikube_py/api/streaming.py) turns whatever the client spoke (SPDY or WebSocket)
into one WebSocket to here. Each binary message starts with a channel byte:

  0 stdin   1 stdout   2 stderr   3 error (the final metav1.Status)   4 resize {"Width","Height"}
  255 (v5.channel.k8s.io only): "the client closed channel N" — how stdin EOF travels

`serve_exec` runs one command with pipes, or on a pseudo-terminal when `tty=true` (then stdout and
stderr are the same terminal, and a resize message becomes a TIOCSWINSZ ioctl on it — which is how
`stty size` in the container learns the new size). The command line is `prefix + command`: the
kubelet passes the runtime's exec (`mkpy-runc exec ID`) as the prefix, so the command runs inside
the container's namespaces and cgroup; a test can pass no prefix to run it as a plain process.

`serve_attach` is `kubectl attach`: no new process, the container's own stdio. Output is the CRI
log followed from its current end, each record decoded back to the bytes the container wrote on
stdout or stderr; stdin (only for a container with `stdin: true`) goes to the container's monitor,
which holds the write end of the container's stdin pipe (native/programs/mkpy-monitor.c).

`serve_portforward` joins one TCP connection to a WebSocket: channel 0 data, channel 1 errors,
each starting with the port number (2 bytes, little endian), like kubelet's WebSocket port-forward.
`connect(port)` makes the connection — the kubelet does it from inside the pod's network namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import signal
import socket
import struct
import subprocess
import termios
from collections.abc import Callable, Sequence

import aiohttp
from aiohttp import WSMsgType, web

CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def exit_status(code: int) -> dict:
    """The Status the error channel carries: Success, or NonZeroExitCode with the code as a cause."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def set_window_size(fd: int, width: int, height: int) -> None:
    """What a terminal resize is: the kernel's idea of the tty's rows and columns (struct winsize)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class _Exec:
    """A running command: with a pty (one master fd) or with three pipes."""

    def __init__(self, argv: Sequence[str], tty: bool, cwd: str | None, env: dict | None,
                 size: tuple[int, int] | None = None) -> None:
        self.tty = tty
        if tty:
            self.master, slave = pty.openpty()
            if size:  # (width, height) the client asked for: the command starts with it
                set_window_size(self.master, *size)
            self.proc = subprocess.Popen(
                list(argv), stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True
            )
            os.close(slave)  # only the child holds it now, so reading the master ends when it exits
        else:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )

    def outputs(self) -> list[tuple[int, Callable[[], bytes]]]:
        if self.tty:

            def read_master() -> bytes:
                try:
                    return os.read(self.master, 32768)
                except OSError:  # EIO: the terminal's last user has gone
                    return b""

            return [(STDOUT, read_master)]
        assert self.proc.stdout and self.proc.stderr
        out, err = self.proc.stdout, self.proc.stderr
        return [(STDOUT, lambda: out.read1(32768)), (STDERR, lambda: err.read1(32768))]

    def write(self, data: bytes) -> None:
        if self.tty:
            os.write(self.master, data)
        elif self.proc.stdin:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def close_stdin(self) -> None:
        if self.tty:
            os.write(self.master, b"\x04")  # Ctrl-D: end of input on a terminal
        elif self.proc.stdin:
            self.proc.stdin.close()

    def kill(self) -> None:
        """Kill the command and everything under it: with a runtime-exec prefix the process in the
        container is a grandchild of ours, in a session of its own (so not our process group)."""
        if self.proc.poll() is not None:
            return
        import psutil

        try:
            tree = [*psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for p in [*reversed(tree)]:  # the deepest first: nobody is left to restart anything
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
            self.proc.wait()
        if self.tty:
            with contextlib.suppress(OSError):
                os.close(self.master)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f:
                with contextlib.suppress(OSError):
                    f.close()


def _size(data: bytes) -> tuple[int, int]:
    size = json.loads(data)
    return int(size.get("Width", 0)), int(size.get("Height", 0))


async def _first_size(ws: web.WebSocketResponse, wait: float = 1.0
                      ) -> tuple[tuple[int, int] | None, list[aiohttp.WSMessage]]:
    """With a terminal, kubectl's first message is the window's size. Started before it arrives,
    the command would see a 0x0 terminal (`stty size` says "0 0", editors draw nothing), so wait
    for it a moment: (width, height) or None, and the messages that came first, to replay."""
    early: list[aiohttp.WSMessage] = []
    deadline = asyncio.get_running_loop().time() + wait
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type == WSMsgType.BINARY and msg.data[:1] == bytes([RESIZE]):
            return _size(msg.data[1:]), early
        early.append(msg)
        if msg.type != WSMsgType.BINARY:  # closed, or an error: nothing more will come
            break
    return None, early


async def serve_exec(
    request: web.Request,
    command: Sequence[str],
    *,
    prefix: Sequence[str] = (),
    cwd: str | None = None,
    env: dict | None = None,
) -> web.WebSocketResponse:
    """Upgrade to a WebSocket and run `prefix + command` until it exits; end with its Status."""
    q = request.query
    tty = q.get("tty") in ("1", "true")
    want_stdin = q.get("stdin") in ("1", "true")
    ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, heartbeat=None, max_msg_size=0)
    await ws.prepare(request)
    loop = asyncio.get_running_loop()
    size, early = await _first_size(ws) if tty else (None, [])
    try:
        ex = _Exec([*prefix, *command], tty, cwd, env, size)
    except OSError as e:
        await ws.send_bytes(bytes([ERROR]) + json.dumps(exit_status(126) | {"message": str(e)}).encode())
        await ws.close()
        return ws
    if not want_stdin and not tty:
        ex.close_stdin()

    async def copy(channel: int, read: Callable[[], bytes]) -> None:
        while chunk := await loop.run_in_executor(None, read):
            await ws.send_bytes(bytes([channel]) + chunk)

    async def handle(msg: aiohttp.WSMessage) -> None:
        if msg.type != WSMsgType.BINARY or not msg.data:
            return
        channel, data = msg.data[0], msg.data[1:]
        if channel == STDIN and want_stdin and data:
            await loop.run_in_executor(None, ex.write, data)
        elif channel == CLOSE and data[:1] == bytes([STDIN]):
            await loop.run_in_executor(None, ex.close_stdin)
        elif channel == RESIZE and tty:
            set_window_size(ex.master, *_size(data))

    async def feed() -> None:
        for msg in early:  # what came while we waited for the terminal's size
            await handle(msg)
        async for msg in ws:
            await handle(msg)
        # The other side hung up before the command ended: nobody will read it, stop it.
        await loop.run_in_executor(None, ex.kill)

    feeder = asyncio.ensure_future(feed())
    try:
        await asyncio.gather(*(copy(c, r) for c, r in ex.outputs()))
        code = await loop.run_in_executor(None, ex.proc.wait)
        await ws.send_bytes(bytes([ERROR]) + json.dumps(exit_status(code)).encode())
    except ConnectionError:
        pass
    finally:
        feeder.cancel()
        await loop.run_in_executor(None, ex.close)
        await ws.close()
    return ws


async def serve_portforward(
    request: web.Request, port: int, connect: Callable[[int], socket.socket]
) -> web.WebSocketResponse:
    """Upgrade to a WebSocket and join it to one TCP connection made by `connect(port)`."""
    ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, heartbeat=None, max_msg_size=0)
    await ws.prepare(request)
    loop = asyncio.get_running_loop()
    prefix = struct.pack("<H", port)
    await ws.send_bytes(b"\x00" + prefix)
    await ws.send_bytes(b"\x01" + prefix)
    try:
        sock = await loop.run_in_executor(None, connect, port)
    except OSError as e:
        await ws.send_bytes(b"\x01" + f"error forwarding port {port}: {e}".encode())
        await ws.close()
        return ws
    sock.setblocking(False)

    async def up() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and msg.data[:1] == b"\x00" and len(msg.data) > 1:
                await loop.sock_sendall(sock, msg.data[1:])
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    uploader = asyncio.ensure_future(up())
    try:
        while data := await loop.sock_recv(sock, 32768):
            await ws.send_bytes(b"\x00" + data)
    except (OSError, ConnectionError):
        pass
    finally:
        uploader.cancel()
        sock.close()
        await ws.close()
    return ws


def failure(message: str, reason: str = "BadRequest", code: int = 400) -> dict:
    """A Failure Status for the error channel: how a streaming request reports what went wrong."""
    return {"metadata": {}, "status": "Failure", "reason": reason, "message": message, "code": code}


async def send_failure(request: web.Request, message: str) -> web.WebSocketResponse:
    """Upgrade, say why not on the error channel, close. (An HTTP error before the upgrade would
    reach kubectl only as "bad handshake": the API server's proxy cannot carry its body.)"""
    ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, heartbeat=None)
    await ws.prepare(request)
    await ws.send_bytes(bytes([ERROR]) + json.dumps(failure(message)).encode())
    await ws.close()
    return ws


def cri_record(line: bytes) -> tuple[int, bytes] | None:
    """One CRI log line -> (STDOUT or STDERR, the bytes the container wrote). `F` ends a line."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
        return None
    data = parts[3] if len(parts) == 4 else b""
    return (STDOUT if parts[1] == b"stdout" else STDERR), data + (b"\n" if parts[2] == b"F" else b"")


def connect_unix(path: str) -> socket.socket:
    """Connect to a unix socket whose path may be longer than sun_path's 108 bytes: through
    /proc/self/fd/N of the directory it is in (the kernel resolves that link like a path)."""
    dirfd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(f"/proc/self/fd/{dirfd}/{os.path.basename(path)}")
        except OSError:
            sock.close()
            raise
        return sock
    finally:
        os.close(dirfd)


async def serve_attach(
    request: web.Request,
    log_path: str,
    running: Callable[[], bool],
    stdin_socket: str | None,
    resize: Callable[[int, int], None] | None = None,
) -> web.WebSocketResponse:
    """Upgrade to a WebSocket and relay the running container's stdio until it stops.

    Output: whatever the monitor appends to the CRI log from now on (polled: a file has no "wait
    for more"). Stdin: with `stdin_socket` (the container has `stdin: true`), channel 0 goes to
    the monitor's attach socket; closing it (stdin EOF, or the client leaving) is what
    `stdinOnce` turns into EOF for the container. Without it, stdin is ignored, as kubelet does.
    For a container with a terminal (`tty: true`) its output is all on stdout, and `resize(w, h)`
    applies channel 4's window sizes to it.
    """
    q = request.query
    want = {STDOUT: q.get("stdout") in ("1", "true"), STDERR: q.get("stderr") in ("1", "true")}
    want_stdin = q.get("stdin") in ("1", "true") and stdin_socket is not None
    loop = asyncio.get_running_loop()
    sock = None
    if want_stdin:
        for attempt in range(20):  # a container that just started: its monitor may not listen yet
            try:
                sock = await loop.run_in_executor(None, connect_unix, stdin_socket)
                break
            except (FileNotFoundError, ConnectionRefusedError) as e:
                if attempt == 19:
                    return await send_failure(request, f"cannot attach to the container's stdin: {e}")
                await asyncio.sleep(0.1)
            except OSError as e:
                return await send_failure(request, f"cannot attach to the container's stdin: {e}")
        sock.setblocking(False)
    ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, heartbeat=None, max_msg_size=0)
    await ws.prepare(request)
    f = open(log_path, "rb")  # closed in finally
    f.seek(0, os.SEEK_END)  # attach shows what the container writes from now on

    def close_stdin() -> None:
        nonlocal sock
        if sock is not None:
            sock.close()  # the monitor sees EOF; with stdinOnce it closes the container's stdin
            sock = None

    async def feed() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == STDIN and data and sock is not None:
                await loop.sock_sendall(sock, data)
            elif channel == CLOSE and data[:1] == bytes([STDIN]):
                close_stdin()
            elif channel == RESIZE and resize is not None:
                size = json.loads(data)
                with contextlib.suppress(OSError):  # the container may be gone already
                    await loop.run_in_executor(
                        None, resize, int(size.get("Width", 0)), int(size.get("Height", 0)))
        close_stdin()  # the client left

    async def pump(partial: bytes) -> bytes:
        chunk = await loop.run_in_executor(None, f.read)
        *whole, partial = (partial + chunk).split(b"\n")
        for line in whole:
            rec = cri_record(line)
            if rec and want[rec[0]] and rec[1]:
                await ws.send_bytes(bytes([rec[0]]) + rec[1])
        return partial

    feeder = asyncio.ensure_future(feed())
    try:
        partial = b""
        while not feeder.done() and running():
            partial = await pump(partial)
            await asyncio.sleep(0.1)
        if not feeder.done():  # the container stopped: what it wrote last, then how it ended
            await pump(partial)
            await ws.send_bytes(bytes([ERROR]) + json.dumps(exit_status(0)).encode())
    except ConnectionError:
        pass
    finally:
        feeder.cancel()
        close_stdin()
        f.close()
        await ws.close()
    return ws


def _cri_text(line: str) -> str:
    """One CRI log line (`TIME STREAM P|F message`) -> the text the container wrote."""
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 3:
        return ""
    return (parts[3] if len(parts) == 4 else "") + ("\n" if parts[2] == "F" else "")


async def serve_log_file(
    request: web.Request, path: str, running: Callable[[], bool] = lambda: True
) -> web.StreamResponse:
    """`/containerLogs/...` from a CRI-format log file: ?tailLines=N, and ?follow=true keeps the
    chunked response open, sending what the container writes, until it stops or the client leaves."""
    q = request.query
    follow = q.get("follow") in ("1", "true")
    tail = int(q["tailLines"]) if q.get("tailLines", "").isdigit() else None
    if not os.path.exists(path):
        raise web.HTTPNotFound(text=f"no log at {path}")
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        with open(path, "rb") as f:
            lines = f.readlines()
            if lines and not lines[-1].endswith(b"\n"):  # a line still being written: later
                f.seek(-len(lines.pop()), os.SEEK_CUR)
            text = "".join(_cri_text(x.decode(errors="replace")) for x in lines)
            if tail is not None:
                text = "".join(text.splitlines(keepends=True)[-tail:] if tail else [])
            await resp.write(text.encode())
            partial = b""
            while follow and running():
                chunk = f.read()
                if not chunk:
                    await asyncio.sleep(0.1)  # a file has no "wait for more"; inotify would be next
                    continue
                partial += chunk
                *whole, partial = partial.split(b"\n")
                if whole:
                    await resp.write(
                        "".join(_cri_text(x.decode(errors="replace") + "\n") for x in whole).encode()
                    )
        await resp.write_eof()
    except ConnectionResetError:  # the client left (kubectl logs -f ended with Ctrl-C)
        pass
    return resp
