"""`mkpy exec [-it] POD [-c C] -- CMD...`: run a command in a container, over one WebSocket.

What kubectl >= 1.30 does: a GET to `pods/NAME/exec?command=...&stdin=true&tty=true` asking to
upgrade to a WebSocket with the subprotocol `v5.channel.k8s.io` (v4 as a fallback). The API
server proxies it to the node's kubelet. Every WebSocket message starts with one byte naming
its *channel*:

    0 stdin  (we send)         3 error: a metav1.Status when the command ends (we receive)
    1 stdout (we receive)      4 resize: {"Width": cols, "Height": rows} (we send)
    2 stderr (we receive)    255 close: "no more stdin" (v5 only)

With `-t` our terminal goes to raw mode, so every key goes to the remote shell, and a
SIGWINCH (the window was resized) becomes a resize message. The command's exit code arrives
in the Status (`reason: NonZeroExitCode`, cause `ExitCode`) and becomes ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import threading
import tty
import urllib.parse
from typing import Any

import aiohttp
import click

from .kubeclient import Kube, KubeError, api_path, kube_options, resolve

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


def exit_code(status: dict) -> tuple[int, str | None]:
    """(exit code, error message or None) from the error channel's Status."""
    if status.get("status") == "Success":
        return 0, None
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message", "1")), None
                except ValueError:
                    break
    return 1, status.get("message") or "command failed"


def exec_url(
    kube: Kube, ns: str, pod: str, container: str | None, command: tuple[str, ...], stdin: bool, tty_: bool
) -> str:
    params: list[tuple[str, str]] = [("command", c) for c in command]
    if container:
        params.append(("container", container))
    params += [
        ("stdin", "true" if stdin else "false"),
        ("stdout", "true"),
        ("stderr", "false" if tty_ else "true"),
        ("tty", "true" if tty_ else "false"),
    ]
    path = api_path(resolve("pods"), ns, pod, "exec") + "?" + urllib.parse.urlencode(params)
    c = kube.client
    if c.unix_socket:
        return "http://localhost" + path
    scheme = "wss" if c.scheme == "https" else "ws"
    return f"{scheme}://{c.host}:{c.port}{path}"


async def run_exec(kube: Kube, url: str, stdin: bool, tty_: bool) -> tuple[int, str | None]:
    c = kube.client
    headers = {"Authorization": f"Bearer {c.token}"} if c.token else {}
    connector = (
        aiohttp.UnixConnector(path=c.unix_socket)
        if c.unix_socket
        else aiohttp.TCPConnector(ssl=c._ssl if c._ssl is not None else False)
    )
    loop = asyncio.get_running_loop()
    status: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            ws = await session.ws_connect(
                url, protocols=PROTOCOLS, headers=headers, max_msg_size=0, autoping=True, heartbeat=None
            )
        except aiohttp.WSServerHandshakeError as e:
            raise KubeError(_handshake_error(e)) from None
        v5 = ws.protocol == "v5.channel.k8s.io"
        stdin_fd = sys.stdin.fileno()

        # One sender keeps stdin chunks and resizes in order.
        outq: asyncio.Queue[bytes] = asyncio.Queue()

        async def sender() -> None:
            while True:
                await ws.send_bytes(await outq.get())

        sending = asyncio.ensure_future(sender())

        def send_size() -> None:
            try:  # our terminal's real size (not $COLUMNS, which shutil would prefer)
                cols, rows = os.get_terminal_size(stdin_fd)
            except OSError:
                cols, rows = shutil.get_terminal_size()
            outq.put_nowait(bytes([RESIZE]) + json.dumps({"Width": cols, "Height": rows}).encode())

        if tty_:
            send_size()
            loop.add_signal_handler(signal.SIGWINCH, send_size)
        if stdin:
            # A thread, not loop.add_reader: epoll refuses files and /dev/null (`exec -i x < file`).
            # A daemon thread, so one still blocked in read() does not keep us alive at the end.
            def read_stdin() -> None:
                while True:
                    try:
                        data = os.read(stdin_fd, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        if v5:
                            loop.call_soon_threadsafe(outq.put_nowait, bytes([CLOSE, STDIN]))
                        return
                    loop.call_soon_threadsafe(outq.put_nowait, bytes([STDIN]) + data)

            threading.Thread(target=read_stdin, name="mkpy-exec-stdin", daemon=True).start()
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                ch, data = msg.data[0], msg.data[1:]
                if ch == STDOUT:
                    os.write(sys.stdout.fileno(), data)
                elif ch == STDERR:
                    os.write(sys.stderr.fileno(), data)
                elif ch == ERROR and data:
                    try:
                        status = json.loads(data)
                    except ValueError:
                        status = {"status": "Failure", "message": data.decode(errors="replace")}
        finally:
            sending.cancel()
            if tty_:
                loop.remove_signal_handler(signal.SIGWINCH)
    if not status:
        return 0, None
    return exit_code(status)


def _handshake_error(e: aiohttp.WSServerHandshakeError) -> str:
    return f"unable to upgrade connection: {e.message} (HTTP {e.status})"


@contextlib.contextmanager
def raw_terminal(fd: int, enabled: bool):
    """Raw mode for -t: keys (Ctrl-C too) go to the remote program; restored however we leave."""
    if not enabled:
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)  # not TCSAFLUSH: keep what was typed already
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.option("-i", "--stdin", is_flag=True, help="Pass our stdin to the command.")
@click.option("-t", "--tty", "tty_", is_flag=True, help="Give the command a terminal (use with -i).")
@click.option("-c", "--container", help="The container (default: the only one).")
@click.argument("target")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@kube_options
def exec_(
    kube: Kube, stdin: bool, tty_: bool, container: str | None, target: str, command: tuple[str, ...]
) -> None:
    """Run COMMAND in a container: `exec -it POD -- sh`, `exec deploy/x -c app -- env`.

    Our exit code is the command's."""
    if not command:
        raise KubeError("you must specify at least one command for the container")
    kind, _, name = target.partition("/")
    pod = target
    if name:
        res = resolve(kind)
        if res.plural != "pods":
            from .logs import pods_for

            pod = pods_for(kube, target)[0][0]["metadata"]["name"]
        else:
            pod = name
    p = kube.client.get("pods", pod, kube.namespace)
    phase = (p.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise KubeError(f"cannot exec into a container in a completed pod; current phase is {phase}")
    if tty_ and not (stdin and sys.stdin.isatty()):
        if not stdin:
            click.echo("Unable to use a TTY - input is not enabled", err=True)
        else:
            click.echo("Unable to use a TTY - input is not a terminal or the right kind of file", err=True)
        tty_ = False
    url = exec_url(kube, kube.namespace, pod, container, command, stdin, tty_)
    with raw_terminal(sys.stdin.fileno(), tty_):
        code, err = asyncio.run(run_exec(kube, url, stdin, tty_))
    if err:
        raise KubeError(err)
    if code:
        click.echo(f"command terminated with exit code {code}", err=True)
        sys.exit(code)
