"""`mkpy port-forward POD [LOCAL:]REMOTE...`: a local TCP port that reaches a port inside a pod.

Like kubectl >= 1.31 we open ONE WebSocket to `pods/NAME/portforward` with the subprotocol
`SPDY/3.1+portforward.k8s.io`: inside it travel SPDY/3.1 frames (minikube_py/api/spdy.py).
For every local connection we open two SPDY streams, both with headers `port` and `requestID`:

    streamtype=error   the server writes a message here if it cannot reach the port
    streamtype=data    the bytes of the TCP connection, both ways; FIN = that side is done

The API server pairs them by requestID and forwards each pair to the kubelet, which connects
to the port inside the pod's network namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import aiohttp
import click

from minikube_py.api import spdy

from .kubeclient import Kube, KubeError, api_path, kube_options, resolve

TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHUNK = 32 * 1024


def parse_ports(specs: tuple[str, ...]) -> list[tuple[int, int]]:
    """`8080:80` -> (8080, 80); `80` -> (80, 80); `:80` -> (0 = any free port, 80)."""
    out = []
    for spec in specs:
        local, _, remote = spec.rpartition(":") if ":" in spec else (spec, "", spec)
        try:
            lp, rp = int(local or 0), int(remote)
        except ValueError:
            raise KubeError(f"invalid port mapping {spec!r}: use LOCAL:REMOTE, PORT or :REMOTE") from None
        if not (0 <= lp < 65536 and 0 < rp < 65536):
            raise KubeError(f"invalid port mapping {spec!r}: ports are 1-65535")
        out.append((lp, rp))
    return out


class Tunnel:
    """The client end of the SPDY session inside the WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.codec = spdy.HeaderCodec()
        self.reader = spdy.FrameReader(self.codec)
        self.outq: asyncio.Queue[bytes] = asyncio.Queue()
        self.next_id = 1  # a client's streams have odd ids
        self.next_request = 0
        self.data: dict[int, asyncio.StreamWriter] = {}
        self.errors: dict[int, int] = {}  # error stream id -> remote port

    def send(self, frame: spdy.Frame) -> None:
        # Encode now, in order: header blocks share one zlib stream.
        self.outq.put_nowait(spdy.encode(frame, self.codec))

    async def sender(self) -> None:
        while True:
            await self.ws.send_bytes(await self.outq.get())

    async def receiver(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                continue
            for f in self.reader.feed(msg.data):
                self.handle(f)
        for w in self.data.values():
            w.close()

    def handle(self, f: spdy.Frame) -> None:
        if f.kind == 0:
            if f.stream_id in self.errors and f.data:
                click.echo(
                    f"error forwarding port {self.errors[f.stream_id]}: {f.data.decode().strip()}", err=True
                )
            w = self.data.get(f.stream_id)
            if w is not None:
                if f.data:
                    w.write(f.data)
                    self.send(spdy.Frame(spdy.WINDOW_UPDATE, stream_id=f.stream_id, value=len(f.data)))
                if f.fin:
                    with contextlib.suppress(OSError):
                        w.write_eof()
        elif f.kind == spdy.RST_STREAM:
            w = self.data.pop(f.stream_id, None)
            if w is not None:
                w.close()
        elif f.kind == spdy.PING:
            self.send(spdy.Frame(spdy.PING, value=f.value))
        elif f.kind == spdy.GOAWAY:
            for w in self.data.values():
                w.close()

    async def connection(
        self, local: int, remote: int, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        click.echo(f"Handling connection for {local}")
        rid = str(self.next_request)
        self.next_request += 1
        err_id, data_id = self.next_id, self.next_id + 2
        self.next_id += 4
        headers = {"port": [str(remote)], "requestid": [rid]}
        self.errors[err_id] = remote
        self.data[data_id] = w
        self.send(spdy.Frame(spdy.SYN_STREAM, stream_id=err_id, headers={"streamtype": ["error"], **headers}))
        self.send(spdy.Frame(spdy.SYN_STREAM, stream_id=data_id, headers={"streamtype": ["data"], **headers}))
        try:
            while chunk := await r.read(CHUNK):
                self.send(spdy.Frame(0, stream_id=data_id, data=chunk))
        except OSError:
            pass
        self.send(spdy.Frame(0, stream_id=data_id, flags=spdy.FLAG_FIN))


async def forward(kube: Kube, pod: str, ports: list[tuple[int, int]], address: str) -> None:
    c = kube.client
    path = api_path(resolve("pods"), kube.namespace, pod, "portforward")
    if c.unix_socket:
        url, connector = "http://localhost" + path, aiohttp.UnixConnector(path=c.unix_socket)
    else:
        scheme = "wss" if c.scheme == "https" else "ws"
        url = f"{scheme}://{c.host}:{c.port}{path}"
        connector = aiohttp.TCPConnector(ssl=c._ssl if c._ssl is not None else False)
    headers = {"Authorization": f"Bearer {c.token}"} if c.token else {}
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            ws = await session.ws_connect(url, protocols=(TUNNEL_PROTOCOL,), headers=headers, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as e:
            raise KubeError(f"unable to upgrade connection: {e.message} (HTTP {e.status})") from None
        tunnel = Tunnel(ws)
        servers = []
        for local, remote in ports:

            def on_connect(r, w, local=local, remote=remote):
                return tunnel.connection(local, remote, r, w)

            try:
                srv = await asyncio.start_server(on_connect, address, local)
            except OSError as e:
                raise KubeError(f"unable to listen on port {local}: {e.strerror}") from None
            actual = srv.sockets[0].getsockname()[1]
            click.echo(f"Forwarding from {address}:{actual} -> {remote}")
            sys.stdout.flush()
            servers.append(srv)
        tasks = [asyncio.ensure_future(tunnel.sender()), asyncio.ensure_future(tunnel.receiver())]
        try:
            await tasks[1]  # until the server closes the session
        finally:
            for t in tasks:
                t.cancel()
            for srv in servers:
                srv.close()
        raise KubeError("lost connection to pod")


@click.command("port-forward")
@click.argument("target")
@click.argument("ports", nargs=-1, required=True)
@click.option("--address", default="127.0.0.1", help="Local address to listen on.")
@kube_options
def port_forward(kube: Kube, target: str, ports: tuple[str, ...], address: str) -> None:
    """Forward local ports to a pod: `port-forward pod/web 8080:3000`, `port-forward deploy/x :80`."""
    mapping = parse_ports(ports)
    kind, _, name = target.partition("/")
    pod = target
    if name:
        if resolve(kind).plural == "pods":
            pod = name
        else:
            from .logs import pods_for

            pod = pods_for(kube, target)[0][0]["metadata"]["name"]
    p = kube.client.get("pods", pod, kube.namespace)
    if (p.get("status") or {}).get("phase") != "Running":
        raise KubeError(
            f"unable to forward port because pod is not running. Current status={p['status'].get('phase')}"
        )
    try:
        asyncio.run(forward(kube, pod, mapping, address))
    except KeyboardInterrupt:
        pass
