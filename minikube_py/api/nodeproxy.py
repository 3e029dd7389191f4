"""`pods/NAME/log`: the API server does not have the logs — the pod's node does.

As in Kubernetes, the API server finds the pod's node, reads where that node's kubelet listens
(`status.addresses` InternalIP + `status.daemonEndpoints.kubeletEndpoint.Port`, 10250 by
default) and streams the kubelet's `/containerLogs/NS/POD/CONTAINER` back to the client.
A node may instead name its kubelet endpoint in the annotation `mkpy.io/kubelet-endpoint`
(`http://IP:PORT`, `https://IP:PORT` or `unix:///path/kubelet.sock`).

Like `kube-apiserver --kubelet-insecure-tls`, the kubelet's certificate is not verified. The API
server proves itself to the kubelet with a client certificate signed by the cluster CA (kubeadm's
apiserver-kubelet-client; `set_kubelet_client_cert`): a kubelet serving on its node's LAN address
accepts nobody else.
"""

from __future__ import annotations

import ssl

import aiohttp
from aiohttp import web

from .errors import ApiError, bad_request
from .registry import Registry
from .resources import lookup

ENDPOINT_ANNOTATION = "mkpy.io/kubelet-endpoint"
# (cert, key) presented to kubelets over HTTPS; set once by the API server process at start-up.
_client_cert: tuple[str, str] | None = None


def set_kubelet_client_cert(cert: str | None, key: str | None = None) -> None:
    global _client_cert
    _client_cert = (cert, key or cert) if cert else None


LOG_PARAMS = ("follow", "previous", "sinceSeconds", "sinceTime", "timestamps", "tailLines", "limitBytes")


def pick_container(pod: dict, wanted: str | None) -> str:
    spec = pod.get("spec") or {}
    names = [c["name"] for c in (spec.get("containers") or [])]
    every = [c["name"] for c in (spec.get("initContainers") or [])] + names
    if wanted:
        if wanted not in every:
            raise bad_request(f"container {wanted} is not valid for pod {pod['metadata']['name']}")
        return wanted
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get(
        "kubectl.kubernetes.io/default-container"
    )
    if default in names:
        return default
    if len(names) == 1:
        return names[0]
    raise bad_request(
        f"a container name must be specified for pod {pod['metadata']['name']}, "
        f"choose one of: [{' '.join(names)}]"
    )


def kubelet_endpoint(node: dict) -> str:
    """The base URL of a node's kubelet."""
    override = ((node.get("metadata") or {}).get("annotations") or {}).get(ENDPOINT_ANNOTATION)
    if override:
        return override.rstrip("/")
    status = node.get("status") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname")
    if not host:
        raise ApiError(
            "ServiceUnavailable", f"node {node['metadata']['name']} reports no address for its kubelet"
        )
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 10250
    return f"https://{host}:{port}"


def kubelet_session(base: str) -> tuple[aiohttp.ClientSession, str]:
    """An HTTP session to a kubelet and the URL prefix to put paths after (TCP or unix socket)."""
    if base.startswith("unix://"):
        connector: aiohttp.BaseConnector = aiohttp.UnixConnector(path=base[len("unix://") :])
        prefix = "http://kubelet"
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if _client_cert and base.startswith("https://"):
            ctx.load_cert_chain(*_client_cert)
        connector = aiohttp.TCPConnector(ssl=ctx)
        prefix = base
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    return aiohttp.ClientSession(connector=connector, timeout=timeout), prefix


async def pod_and_kubelet(registry: Registry, ns: str, name: str) -> tuple[dict, str, str]:
    """The pod, its node's name and the base URL of that node's kubelet."""
    pod = await registry.get(lookup("pods"), ns, name)
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise bad_request(f"pod {name} does not have a host assigned")
    node = await registry.get(lookup("nodes"), None, node_name)
    return pod, node_name, kubelet_endpoint(node)


async def stream_logs(request: web.Request, registry: Registry, ns: str, name: str) -> web.StreamResponse:
    pod, node_name, base = await pod_and_kubelet(registry, ns, name)
    container = pick_container(pod, request.query.get("container"))
    query = {k: request.query[k] for k in LOG_PARAMS if k in request.query}
    path = f"/containerLogs/{ns}/{name}/{container}"
    session, prefix = kubelet_session(base)
    async with session:
        try:
            upstream = await session.get(prefix + path, params=query)
        except aiohttp.ClientError as e:
            raise ApiError(
                "ServiceUnavailable", f"the kubelet of node {node_name} at {base} is unreachable: {e}"
            ) from None
        async with upstream:
            if upstream.status >= 300:
                text = (await upstream.text())[:1000]
                raise ApiError(
                    "BadRequest" if upstream.status < 500 else "InternalError",
                    text.strip(),
                    code=upstream.status,
                )
            resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
            except (ConnectionResetError, aiohttp.ClientPayloadError):
                pass
            try:
                await resp.write_eof()
            except ConnectionResetError:
                pass
            return resp
