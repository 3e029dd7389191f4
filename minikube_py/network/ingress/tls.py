"""TLS termination: which certificate a client gets, chosen by the name it asks for (SNI).

An Ingress's `spec.tls[]` says "for these hosts, use the certificate in Secret X" (type
kubernetes.io/tls, keys `tls.crt` and `tls.key`, in the Ingress's namespace). During the TLS
handshake the client sends the host name it wants (Server Name Indication); `sni_callback` swaps in
that host's SSLContext before the server's certificate is sent. Exact names first, then a
`*.example.com` entry; a name we have no certificate for gets a self-signed "fake" one (as
ingress-nginx does), which a careful client refuses. The HTTP request that follows is then routed
like any other (routing.py), with `X-Forwarded-Proto: https`.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import ssl
import tempfile
from collections.abc import Callable
from typing import Any

from minikube_py.network.ingress.routing import covering_name, normalize_host, tls_entry_hosts

log = logging.getLogger("mkpy.ingress")
SecretLookup = Callable[[str, str], dict | None]


def context_from_pem(cert: bytes, key: bytes) -> ssl.SSLContext:
    """An SSLContext serving this certificate chain and key. Python's ssl loads them only from
    files, so they pass through a private temporary directory that is removed at once."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="mkpy-ingress-tls-") as d:  # mode 0700: only us
        paths = []
        for name, data in (("tls.crt", cert), ("tls.key", key)):
            path = os.path.join(d, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            paths.append(path)
        ctx.load_cert_chain(paths[0], paths[1])
    return ctx


def self_signed(common_name: str, hosts: list[str] | None = None) -> tuple[bytes, bytes]:
    """A self-signed certificate and key (PEM), valid for a year: the fallback, and for tests."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=365))
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]),
                                        critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


FAKE_CN = "mkpy ingress fake certificate"


class CertStore:
    """Host name -> SSLContext, rebuilt by the controller from the served Ingresses and their Secrets."""

    def __init__(self) -> None:
        self.fallback = context_from_pem(*self_signed(FAKE_CN))
        self._hosts: dict[str, ssl.SSLContext] = {}  # "a.example.com" or "*.example.com"
        self._cache: dict[tuple[str, str, str], ssl.SSLContext] = {}  # (ns, name, resourceVersion)
        self.problems: list[str] = []

    def update(self, ingresses: list[dict], secret: SecretLookup) -> None:
        hosts: dict[str, ssl.SSLContext] = {}
        cache: dict[tuple[str, str, str], ssl.SSLContext] = {}
        problems: list[str] = []
        for ing in ingresses:
            ns, spec = ing["metadata"].get("namespace", "default"), ing.get("spec") or {}
            for entry in spec.get("tls") or []:
                name = entry.get("secretName") or ""
                ctx = self._context(ns, name, secret(ns, name), cache, problems)
                for host in tls_entry_hosts(spec, entry):  # no hosts listed: the rule hosts
                    if ctx is not None:
                        hosts.setdefault(host, ctx)  # oldest Ingress first (controller sorts)
        self._hosts, self._cache = hosts, cache  # swapped whole: the handshake never sees half
        for p in problems:
            if p not in self.problems:
                log.warning("tls: %s", p)
        self.problems = problems

    def _context(self, ns: str, name: str, obj: dict | None, cache: dict, problems: list[str]
                 ) -> ssl.SSLContext | None:
        if obj is None:
            problems.append(f"secret {ns}/{name} not found")
            return None
        key = (ns, name, obj["metadata"].get("resourceVersion", ""))
        if key in self._cache or key in cache:
            cache[key] = cache.get(key) or self._cache[key]
            return cache[key]
        data: dict[str, Any] = obj.get("data") or {}
        if "tls.crt" not in data or "tls.key" not in data:
            problems.append(f"secret {ns}/{name} has no tls.crt and tls.key")
            return None
        try:
            ctx = context_from_pem(base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"]))
        except (ssl.SSLError, ValueError) as exc:
            problems.append(f"secret {ns}/{name}: {exc}")
            return None
        cache[key] = ctx
        return ctx

    def context_for(self, server_name: str | None) -> ssl.SSLContext:
        name = covering_name(normalize_host(server_name or ""), self._hosts)
        return self._hosts[name] if name is not None else self.fallback

    def server_context(self) -> ssl.SSLContext:
        """The listening socket's context: it only picks the real one per handshake."""
        ctx = context_from_pem(*self_signed(FAKE_CN))

        def pick(sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
            sslobj.context = self.context_for(server_name)

        ctx.sni_callback = pick  # type: ignore[assignment]
        return ctx
