"""TLS termination on loopback: SNI picks the Ingress's certificate (exact, then wildcard), an
unknown name gets the fake one, the backend sees X-Forwarded-Proto: https, and a renewed Secret
(new resourceVersion) is served after the next update."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl

import pytest
from cryptography import x509

from minikube_py.network.ingress.routing import RouteTable
from minikube_py.network.ingress.server import IngressServer
from minikube_py.network.ingress.tls import FAKE_CN, CertStore, self_signed

from .test_server import Backend, call


def tls_secret(name: str, cert: bytes, key: bytes, rv: str = "1") -> dict:
    return {"metadata": {"name": name, "namespace": "default", "resourceVersion": rv},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(cert).decode(), "tls.key": base64.b64encode(key).decode()}}


def ingress(backend_port: int, tls: list[dict]) -> dict:
    path = {"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "svc", "port": {"number": backend_port}}}}
    return {"metadata": {"name": "web", "namespace": "default", "creationTimestamp": "x"},
            "spec": {"tls": tls, "rules": [{"host": h, "http": {"paths": [path]}}
                                           for h in ("a.example.com", "b.shop.test")]}}


def peer_cn(port: int, server_name: str) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE   # we only look at what is offered
    with (socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
          ctx.wrap_socket(raw, server_hostname=server_name) as s):
        der = s.getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    return cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value


@pytest.fixture
def tls_setup(tmp_path):
    backend = Backend("a")
    a_cert, a_key = self_signed("a-cert", ["a.example.com"])
    w_cert, w_key = self_signed("wild-cert", ["*.shop.test"])
    secrets = {"a": tls_secret("a", a_cert, a_key), "wild": tls_secret("wild", w_cert, w_key)}
    ing = ingress(backend.port, [{"hosts": ["a.example.com"], "secretName": "a"},
                                 {"hosts": ["*.shop.test"], "secretName": "wild"},
                                 {"hosts": ["broken.example.com"], "secretName": "missing"}])
    certs = CertStore()
    certs.update([ing], lambda ns, n: secrets.get(n))
    svc = {"spec": {"clusterIP": "127.0.0.1", "ports": [{"port": backend.port}]}}
    eps = {"subsets": [{"addresses": [{"ip": "x"}], "ports": [{"port": 1}]}]}
    table = RouteTable.build([ing])
    server = IngressServer(lambda: table, lambda ns, n: svc, lambda ns, n: eps, ("127.0.0.1", 0),
                           tls_listen=("127.0.0.1", 0), certs=certs).start()
    (tmp_path / "a.pem").write_bytes(a_cert)
    try:
        yield server.tls_bound[1], certs, ing, secrets, tmp_path / "a.pem", server.bound[1]
    finally:
        server.stop()
        backend.stop()


def test_sni_picks_the_certificate(tls_setup):
    port, certs, *_ = tls_setup
    assert peer_cn(port, "a.example.com") == "a-cert"
    assert peer_cn(port, "b.shop.test") == "wild-cert"           # the wildcard entry
    assert peer_cn(port, "x.b.shop.test") == FAKE_CN             # a wildcard covers one label only
    assert peer_cn(port, "unknown.org") == FAKE_CN
    assert peer_cn(port, "broken.example.com") == FAKE_CN        # its Secret does not exist ...
    assert certs.problems == ["secret default/missing not found"]  # ... and that is reported


def test_a_verified_https_request_reaches_the_backend(tls_setup):
    port, _, _, _, ca, _ = tls_setup
    ctx = ssl.create_default_context(cafile=str(ca))
    # connect to 127.0.0.1 but verify as a.example.com (what curl --resolve does)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                server_hostname="a.example.com")
    conn.request("GET", "/x", headers={"Host": "a.example.com"})
    resp = conn.getresponse()
    info = json.loads(resp.read())
    conn.close()
    assert resp.status == 200 and info["backend"] == "a"
    assert info["headers"]["X-Forwarded-Proto"] == "https"


def test_plain_http_to_a_tls_host_gets_a_308_to_the_https_port(tls_setup):
    tls_port, *_, http_port = tls_setup
    status, headers, body = call(http_port, "a.example.com", "/x?q=1")
    assert status == 308, body
    assert headers["Location"] == f"https://a.example.com:{tls_port}/x?q=1"  # not 443 here: named
    status, headers, _ = call(http_port, "b.shop.test:80", "/")  # the wildcard certificate's host
    assert (status, headers["Location"]) == (308, f"https://b.shop.test:{tls_port}/")


def test_a_renewed_secret_is_served_after_update(tls_setup):
    port, certs, ing, secrets, *_ = tls_setup
    cert, key = self_signed("a-cert-renewed", ["a.example.com"])
    secrets["a"] = tls_secret("a", cert, key, rv="2")
    assert peer_cn(port, "a.example.com") == "a-cert"
    certs.update([ing], lambda ns, n: secrets.get(n))
    assert peer_cn(port, "a.example.com") == "a-cert-renewed"
