"""The kubelet's HTTPS endpoint on a node address: only the API server's CA-signed client cert gets in.

A real KubeletServer on 127.0.0.2 (our stand-in for a LAN address) with the context kubelet/tls.py
builds, reached through the API server's own kubelet session (api/nodeproxy.py)."""

from __future__ import annotations

import asyncio
import types
import urllib.request

import aiohttp
import pytest

from minikube_py.api import auth, nodeproxy
from minikube_py.api.testing import free_port
from minikube_py.kubelet import tls
from minikube_py.kubelet.apiclient import node_object
from minikube_py.kubelet.server import KubeletServer


@pytest.fixture
def lan_kubelet(tmp_path):
    ca, _, _ = auth.ensure_serving_cert(str(tmp_path / "pki"))
    cert, key = tls.ensure_self_signed(str(tmp_path / "kubelet-pki"), "w1", ["127.0.0.2"])
    fake = types.SimpleNamespace(pods={}, cfg=types.SimpleNamespace(node_name="w1"))
    ctx = tls.server_context(cert, key, ca)
    server = KubeletServer(fake, host="127.0.0.2", port=free_port(), ssl_context=ctx)
    port = server.start()
    try:
        yield tmp_path, port
    finally:
        server.stop()
        nodeproxy.set_kubelet_client_cert(None)


def _get(base: str) -> tuple[int, str]:
    async def go() -> tuple[int, str]:
        session, prefix = nodeproxy.kubelet_session(base)
        async with session, session.get(prefix + "/healthz") as r:
            return r.status, await r.text()

    return asyncio.run(go())


def test_api_server_client_cert_is_accepted(lan_kubelet):
    tmp_path, port = lan_kubelet
    nodeproxy.set_kubelet_client_cert(*auth.ensure_kubelet_client_cert(str(tmp_path / "pki")))
    # the endpoint the API server derives from the Node the kubelet registers: InternalIP + port
    node = node_object("w1", ["127.0.0.2"], kubelet_port=port)
    assert {"type": "InternalIP", "address": "127.0.0.2"} in node["status"]["addresses"]
    base = nodeproxy.kubelet_endpoint(node)
    assert base == f"https://127.0.0.2:{port}"
    assert _get(base) == (200, "ok")


def test_callers_without_the_client_cert_are_refused(lan_kubelet, tmp_path):
    _, port = lan_kubelet
    nodeproxy.set_kubelet_client_cert(None)
    # (TLS 1.3: the server checks the client's certificate after the handshake and hangs up)
    with pytest.raises(aiohttp.ClientError):
        _get(f"https://127.0.0.2:{port}")
    # a certificate from another CA is refused as well
    other = tmp_path / "other"
    auth.ensure_serving_cert(str(other))
    nodeproxy.set_kubelet_client_cert(*auth.ensure_kubelet_client_cert(str(other)))
    with pytest.raises(aiohttp.ClientError):
        _get(f"https://127.0.0.2:{port}")
    # and plain HTTP is not served there at all
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.2:{port}/healthz", timeout=5).read()


def test_worker_client_ca_comes_from_its_kubeconfig(tmp_path):
    ca, _, _ = auth.ensure_serving_cert(str(tmp_path / "pki"))
    kc = auth.write_kubeconfig(str(tmp_path / "node.kubeconfig"), "https://192.0.2.1:6443", "t", ca)
    out = tls.ca_from_kubeconfig(kc, str(tmp_path / "k" / "client-ca.crt"))
    assert open(out, "rb").read() == open(ca, "rb").read()
    bare = auth.write_kubeconfig(str(tmp_path / "bare.kubeconfig"), "https://192.0.2.1:6443", "t")
    with pytest.raises(tls.KubeletTLSError, match="no cluster CA"):
        tls.ca_from_kubeconfig(bare, str(tmp_path / "x.crt"))
