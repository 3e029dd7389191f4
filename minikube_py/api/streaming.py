"""`pods/exec`, `pods/attach` and `pods/portforward`: upgrade the client's connection, proxy to the kubelet.

A student's `kubectl exec -it web -- sh` needs several byte streams at once (stdin, stdout, stderr,
terminal resizes, and a last "how did it end" message). The client asks to *upgrade* its HTTP
request into a multiplexed connection, in one of two ways:

  kubectl <= 1.29   `Upgrade: SPDY/3.1` + `X-Stream-Protocol-Version: v4.channel.k8s.io`
                    -> one SPDY stream per purpose, named by a `streamtype` header
                       (error, stdin, stdout, stderr, resize)           [spdy.py]
  kubectl >= 1.30,  `Upgrade: websocket` + `Sec-WebSocket-Protocol: v5.channel.k8s.io`
  Python client     -> one WebSocket; the first byte of each message is the channel
                       (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5: 255 = "close channel")

Either way the API server runs no command itself. Like kube-apiserver it finds the pod's node
and opens a WebSocket to that node's kubelet (`/exec/NS/POD/CONTAINER?command=...`, channel
protocol), then copies between the two, translating SPDY streams to channels when needed.
The exit status arrives on the error channel as a `metav1.Status`; `reason: NonZeroExitCode` with
an `ExitCode` cause is what makes kubectl print "command terminated with exit code N".

Port-forward is the same idea with different streams: per forwarded TCP connection kubectl opens
a `data` and an `error` stream (headers `port`, `requestID`) over SPDY — kubectl >= 1.31 tunnels
those very SPDY frames inside a WebSocket (`SPDY/3.1+portforward.k8s.io`). Each connection
becomes one WebSocket to the kubelet's `/portForward/NS/POD?ports=P`, whose channels 0 (data)
and 1 (error) each start with the port number (2 bytes, little endian).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from . import spdy
from .errors import ApiError, bad_request
from .nodeproxy import kubelet_session, pick_container, pod_and_kubelet
from .registry import Registry

log = logging.getLogger("minikube_py.api.streaming")

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
CHANNEL_PROTOCOLS = (
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
)
SPDY_EXEC_PROTOCOLS = CHANNEL_PROTOCOLS[1:]  # v5 exists only for WebSockets
PORTFORWARD_PROTOCOL = "portforward.k8s.io"
TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
STREAM_NAMES = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR, "error": ERROR, "resize": RESIZE}

# How many sessions ran, by (subresource, transport): tests read it to know which path kubectl took.
SESSIONS: collections.Counter[tuple[str, str]] = collections.Counter()


def _truthy(v: str | None) -> bool:
    return (v or "").lower() in ("1", "true")


def _upgrade_kind(request: web.Request) -> str:
    up = request.headers.get("Upgrade", "").lower()
    if up == "websocket":
        return "websocket"
    if up.startswith("spdy/3.1"):
        return "spdy"
    raise bad_request(f"Upgrade request required (SPDY/3.1 or websocket), got {up or 'none'!r}")


@contextlib.asynccontextmanager
async def _kubelet_ws(base: str, path: str, params: list[tuple[str, str]], protocols: tuple[str, ...]):
    """A WebSocket to the kubelet. Failing to connect is an HTTP error to the client (not yet upgraded)."""
    session, prefix = kubelet_session(base)
    async with session:
        try:
            ws = await session.ws_connect(
                prefix + path, params=params, protocols=protocols, heartbeat=None, max_msg_size=0
            )
        except aiohttp.WSServerHandshakeError as e:
            raise ApiError(
                "BadRequest" if e.status < 500 else "InternalError", f"kubelet: {e.message}", code=e.status
            ) from None
        except aiohttp.ClientError as e:
            raise ApiError("ServiceUnavailable", f"the kubelet at {base} is unreachable: {e}") from None
        try:
            yield ws
        finally:
            await ws.close()


# ---------------------------------------------------------------- taking over the HTTP connection
class _RawFeeder:
    """Stands in for aiohttp's payload parser after our 101: every byte that arrives goes to the
    SPDY session. aiohttp's own WebSocket support hooks in exactly like this (`set_parser`)."""

    def __init__(self, session: spdy.Session, transport: asyncio.Transport) -> None:
        self.session, self.transport = session, transport

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        try:
            self.session.feed(data)
        except spdy.SpdyError as e:
            log.warning("closing a SPDY connection: %s", e)
            self.session.connection_lost()
            self.transport.close()
        return False, b""

    def feed_eof(self) -> None:
        self.session.connection_lost()


async def _upgrade_to_spdy(
    request: web.Request, headers: dict[str, str]
) -> tuple[spdy.Session, web.StreamResponse]:
    """Answer `101 Switching Protocols` and take the connection over for SPDY frames.

    aiohttp only upgrades to WebSocket by itself, so: send the 101 as a normal response, then
    hand the raw bytes that follow to our SPDY session (`set_parser`) and write frames straight
    to the transport. The handler returns only when the session is over (see `_release`).
    """
    resp = web.StreamResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1", **headers})
    await resp.prepare(request)
    transport = request.transport
    assert transport is not None
    session = spdy.Session(transport.write, transport.get_write_buffer_size)
    request.protocol.set_parser(_RawFeeder(session, transport))  # type: ignore[arg-type]
    return session, resp


def _release(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """Done with a hijacked connection: close it (there is no HTTP after SPDY)."""
    request.protocol.force_close()
    return resp


# ---------------------------------------------------------------- exec / attach
class _ClientSide:
    """What the exec bridge needs from the client connection, whichever protocol it speaks."""

    async def send(self, channel: int, data: bytes) -> None: ...

    def incoming(self) -> AsyncIterator[tuple[int, bytes]]: ...  # (channel, data); (STDIN, b"") = EOF

    async def finish(self) -> None: ...

    async def gone(self) -> None:
        """Return once the client has hung up."""


class _WsClient(_ClientSide):
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def send(self, channel: int, data: bytes) -> None:
        await self.ws.send_bytes(bytes([channel]) + data)

    async def incoming(self) -> AsyncIterator[tuple[int, bytes]]:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                data = msg.data
            elif msg.type == aiohttp.WSMsgType.TEXT:  # the Python client sends str as text frames
                data = msg.data.encode()
            else:
                continue
            if data[:1] == bytes([CLOSE]) and len(data) > 1:
                yield data[1], b""  # v5: the client closed this channel (stdin EOF)
            elif len(data) > 1:
                yield data[0], data[1:]

    async def finish(self) -> None:
        await self.ws.close()

    async def gone(self) -> None:
        return  # `incoming` ends only when the WebSocket is closed


class _SpdyClient(_ClientSide):
    def __init__(self, session: spdy.Session, streams: dict[int, spdy.Stream], protocol: str) -> None:
        self.session, self.streams, self.protocol = session, streams, protocol

    async def send(self, channel: int, data: bytes) -> None:
        stream = self.streams.get(channel)
        if stream is None:
            return
        if channel == ERROR and self.protocol != "v4.channel.k8s.io":
            # Before v4 the error stream carried plain text, and nothing on success.
            status = json.loads(data or b"{}")
            data = b"" if status.get("status") == "Success" else str(status.get("message", "")).encode()
        stream.write(data)
        await self.session.drain()

    async def incoming(self) -> AsyncIterator[tuple[int, bytes]]:
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

        async def drain(channel: int, stream: spdy.Stream) -> None:
            while chunk := await stream.read():
                await queue.put((channel, chunk))
            if channel == STDIN and not stream.reset:
                await queue.put((STDIN, b""))

        readers = [
            asyncio.ensure_future(drain(c, self.streams[c])) for c in (STDIN, RESIZE) if c in self.streams
        ]
        done = asyncio.ensure_future(asyncio.gather(*readers))

        def ended(fut: asyncio.Future) -> None:
            # Look at the outcome, so asyncio does not log "exception was never retrieved" when a
            # reader is cancelled because the session went away; a real error is worth a line.
            exc = None if fut.cancelled() else fut.exception()
            if exc is not None and not isinstance(exc, asyncio.CancelledError):
                log.warning("exec over SPDY: reading from the client failed: %r", exc)
            queue.put_nowait(None)

        done.add_done_callback(ended)
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            done.cancel()

    async def gone(self) -> None:
        await self.session.lost.wait()

    async def finish(self) -> None:
        for channel in (STDOUT, STDERR, ERROR):
            if channel in self.streams:
                self.streams[channel].close()
        # kubectl hangs up once it has read every stream to its end; don't wait forever for it.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while not self.session.closed:
                    if await self.session.accept() is None:
                        break


def _split_resizes(data: bytes, buf: bytearray) -> list[bytes]:
    """The SPDY resize stream is a run of JSON objects; WebSocket channel 4 wants one per message."""
    buf += data
    out, decoder = [], json.JSONDecoder()
    text = buf.decode(errors="replace")
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        try:
            obj, end = decoder.raw_decode(text, pos)
        except ValueError:
            break
        out.append(json.dumps(obj).encode())
        pos = end
    del buf[: len(text[:pos].encode())]
    return out


async def _bridge_exec(
    client: _ClientSide, upstream: aiohttp.ClientWebSocketResponse, resize_is_json_stream: bool
) -> None:
    """Copy kubelet -> client until the kubelet is done, and client -> kubelet meanwhile."""
    v5 = upstream.protocol == "v5.channel.k8s.io"

    async def up() -> None:
        buf = bytearray()
        async for channel, data in client.incoming():
            if channel == STDIN and not data:
                if v5:
                    await upstream.send_bytes(bytes([CLOSE, STDIN]))
            elif channel == RESIZE and resize_is_json_stream:
                for one in _split_resizes(data, buf):
                    await upstream.send_bytes(bytes([RESIZE]) + one)
            elif channel in (STDIN, RESIZE):
                await upstream.send_bytes(bytes([channel]) + data)
        # The client hung up (kubectl killed, laptop closed): end the command too.
        await client.gone()
        await upstream.close()

    uploader = asyncio.ensure_future(up())
    try:
        async for msg in upstream:
            if msg.type == aiohttp.WSMsgType.BINARY and msg.data and msg.data[0] in (STDOUT, STDERR, ERROR):
                await client.send(msg.data[0], msg.data[1:])
    finally:
        uploader.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await uploader
    await client.finish()


async def handle_exec(
    request: web.Request, registry: Registry, ns: str, name: str, sub: str
) -> web.StreamResponse:
    kind = _upgrade_kind(request)
    q = request.query
    pod, _node, base = await pod_and_kubelet(registry, ns, name)
    container = pick_container(pod, q.get("container"))
    flags = {k: _truthy(q.get(k)) for k in ("stdin", "stdout", "stderr", "tty")}
    if sub == "exec":
        command = q.getall("command", [])
        if not command:
            raise bad_request("you must specify at least 1 command")
        params = [("command", c) for c in command]
    else:
        params = []  # attach: the container's main process
    if not (flags["stdin"] or flags["stdout"] or flags["stderr"]):
        raise bad_request("you must specify at least one of stdin, stdout, stderr")
    params += [(k, "true" if v else "false") for k, v in flags.items()]
    path = f"/{sub}/{ns}/{name}/{container}"

    if kind == "websocket":
        ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, heartbeat=None, max_msg_size=0)
        if not ws.can_prepare(request).ok:
            raise bad_request(f"none of the WebSocket protocols {CHANNEL_PROTOCOLS} was offered")
        async with _kubelet_ws(base, path, params, CHANNEL_PROTOCOLS) as upstream:
            await ws.prepare(request)
            SESSIONS[(sub, "websocket")] += 1
            await _bridge_exec(_WsClient(ws), upstream, resize_is_json_stream=False)
        return ws

    offered = [
        p.strip() for h in request.headers.getall("X-Stream-Protocol-Version", []) for p in h.split(",")
    ]
    protocol = next((p for p in SPDY_EXEC_PROTOCOLS if p in offered), None)
    if protocol is None:
        raise ApiError("Forbidden", f"none of the stream protocols {offered} is supported", code=403)
    expected = {ERROR} | {
        c for c, f in ((STDIN, "stdin"), (STDOUT, "stdout"), (STDERR, "stderr")) if flags[f]
    }
    if flags["tty"] and protocol != "channel.k8s.io" and protocol != "v2.channel.k8s.io":
        expected.add(RESIZE)
    async with _kubelet_ws(base, path, params, CHANNEL_PROTOCOLS) as upstream:
        session, resp = await _upgrade_to_spdy(request, {"X-Stream-Protocol-Version": protocol})
        SESSIONS[(sub, "spdy")] += 1
        streams: dict[int, spdy.Stream] = {}
        try:
            async with asyncio.timeout(30):  # the client opens its streams right after the 101
                while not expected <= streams.keys():
                    stream = await session.accept()
                    if stream is None:
                        return _release(request, resp)
                    channel = STREAM_NAMES.get(stream.header("streamtype"))
                    if channel is not None:
                        streams[channel] = stream
            await _bridge_exec(_SpdyClient(session, streams, protocol), upstream, resize_is_json_stream=True)
        except TimeoutError:
            log.warning("exec %s/%s: the client never opened streams %s", ns, name, expected - streams.keys())
    return _release(request, resp)


# ---------------------------------------------------------------- port-forward
async def _forward_one(base: str, path: str, port: str, data: spdy.Stream, error: spdy.Stream) -> None:
    """One forwarded TCP connection: a SPDY data+error stream pair <-> one kubelet WebSocket."""
    try:
        async with _kubelet_ws(base, path, [("ports", port)], CHANNEL_PROTOCOLS) as upstream:
            seen_prefix = {0: False, 1: False}

            async def up() -> None:
                while chunk := await data.read():
                    await upstream.send_bytes(b"\x00" + chunk)
                if data.reset:  # kubectl dropped the local connection: drop ours too
                    await upstream.close()

            uploader = asyncio.ensure_future(up())
            try:
                async for msg in upstream:
                    if msg.type != aiohttp.WSMsgType.BINARY or not msg.data or msg.data[0] not in (0, 1):
                        continue
                    channel, payload = msg.data[0], msg.data[1:]
                    if not seen_prefix[channel]:  # each channel starts with the port (2 bytes)
                        seen_prefix[channel] = True
                        payload = payload[2:]
                    if payload:
                        (data if channel == 0 else error).write(payload)
                        await data.session.drain()
            finally:
                uploader.cancel()
    except ApiError as e:
        error.write(e.message.encode())
    data.close()
    error.close()


async def _serve_portforward(session: spdy.Session, base: str, path: str) -> None:
    """Pair the streams kubectl opens (by `requestID`) and forward each pair."""
    pending: dict[str, dict[str, spdy.Stream]] = {}
    tasks: set[asyncio.Task] = set()
    try:
        while (stream := await session.accept()) is not None:
            kind, port = stream.header("streamtype"), stream.header("port")
            if kind not in ("data", "error") or not port.isdigit():
                session.send(spdy.Frame(spdy.RST_STREAM, stream_id=stream.id, status=spdy.PROTOCOL_ERROR))
                continue
            # Old clients send no requestID; their error stream is opened right before the data one.
            rid = stream.header("requestid") or str(stream.id if kind == "error" else stream.id - 2)
            pair = pending.setdefault(rid, {})
            pair[kind] = stream
            if len(pair) == 2:
                del pending[rid]
                task = asyncio.ensure_future(_forward_one(base, path, port, pair["data"], pair["error"]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
    finally:
        for t in list(tasks):
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _portforward_channels(
    request: web.Request, ws: web.WebSocketResponse, base: str, path: str, ports: list[str]
) -> web.WebSocketResponse:
    """Channel-style port-forward: port i uses channels 2i (data) and 2i+1 (error), each starting
    with the port number — which is exactly what each kubelet WebSocket sends on its 0 and 1."""
    async with contextlib.AsyncExitStack() as stack:
        upstreams = [
            await stack.enter_async_context(_kubelet_ws(base, path, [("ports", p)], CHANNEL_PROTOCOLS))
            for p in ports
        ]
        await ws.prepare(request)
        SESSIONS[("portforward", "websocket-channels")] += 1

        async def down(i: int, upstream: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in upstream:
                if msg.type == aiohttp.WSMsgType.BINARY and msg.data and msg.data[0] in (0, 1):
                    await ws.send_bytes(bytes([2 * i + msg.data[0]]) + msg.data[1:])

        async def up() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY and len(msg.data) > 1 and msg.data[0] % 2 == 0:
                    i = msg.data[0] // 2
                    if i < len(upstreams):
                        await upstreams[i].send_bytes(b"\x00" + msg.data[1:])

        uploader = asyncio.ensure_future(up())
        try:
            await asyncio.gather(*(down(i, u) for i, u in enumerate(upstreams)))
        finally:
            uploader.cancel()
            await ws.close()
    return ws


async def handle_portforward(
    request: web.Request, registry: Registry, ns: str, name: str
) -> web.StreamResponse:
    kind = _upgrade_kind(request)
    _pod, _node, base = await pod_and_kubelet(registry, ns, name)
    path = f"/portForward/{ns}/{name}"
    if kind == "websocket":
        # kubectl >= 1.31: SPDY frames tunnelled in WebSocket binary messages. The Python client:
        # the channel protocol, two channels per port.
        ws = web.WebSocketResponse(
            protocols=(TUNNEL_PROTOCOL, *CHANNEL_PROTOCOLS), heartbeat=None, max_msg_size=0
        )
        if not ws.can_prepare(request).ok:
            # Not a protocol we speak: failing the upgrade makes kubectl fall back to plain SPDY.
            raise bad_request(f"port-forward over WebSocket needs the {TUNNEL_PROTOCOL} subprotocol")
        if ws.can_prepare(request).protocol != TUNNEL_PROTOCOL:
            ports = [p for v in request.query.getall("ports", []) for p in v.split(",") if p]
            if not ports or not all(p.isdigit() for p in ports):
                raise bad_request("ports: one or more port numbers are required")
            return await _portforward_channels(request, ws, base, path, ports)
        await ws.prepare(request)
        SESSIONS[("portforward", "websocket")] += 1
        out: asyncio.Queue[bytes | None] = asyncio.Queue()
        queued = [0]  # bytes in `out`

        def put(chunk: bytes) -> None:
            queued[0] += len(chunk)
            out.put_nowait(chunk)

        session = spdy.Session(put, lambda: queued[0])

        async def writer() -> None:
            while (chunk := await out.get()) is not None:
                queued[0] -= len(chunk)
                await ws.send_bytes(chunk)

        async def reader() -> None:
            try:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        session.feed(msg.data)
            except spdy.SpdyError as e:
                log.warning("closing a tunnelled SPDY connection: %s", e)
            session.connection_lost()

        tasks = [asyncio.ensure_future(writer()), asyncio.ensure_future(reader())]
        try:
            await _serve_portforward(session, base, path)
        finally:
            out.put_nowait(None)
            await asyncio.gather(tasks[0], return_exceptions=True)
            tasks[1].cancel()
            await ws.close()
        return ws

    offered = [
        p.strip() for h in request.headers.getall("X-Stream-Protocol-Version", []) for p in h.split(",")
    ]
    if PORTFORWARD_PROTOCOL not in offered:
        raise ApiError(
            "Forbidden", f"port-forward needs the {PORTFORWARD_PROTOCOL} stream protocol", code=403
        )
    session, resp = await _upgrade_to_spdy(request, {"X-Stream-Protocol-Version": PORTFORWARD_PROTOCOL})
    SESSIONS[("portforward", "spdy")] += 1
    await _serve_portforward(session, base, path)
    return _release(request, resp)
