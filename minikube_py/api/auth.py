"""Credentials: the admin bearer token, a self-signed serving certificate, and the kubeconfig.

Kubernetes' static token file format is `token,user,uid[,"group1,group2"]`; we keep that so
the file reads familiar. The kubeconfig carries the server URL, the CA that signed the
serving certificate, and the token: everything kubectl needs.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import secrets

import yaml

DEFAULT_KUBECONFIG = "/etc/mkpy/admin.kubeconfig"
DEFAULT_TOKEN_FILE = "/etc/mkpy/tokens.csv"
DEFAULT_PKI_DIR = "/etc/mkpy/pki"


def _write_private(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def load_tokens(path: str) -> list[str]:
    with open(path) as f:
        return [line.split(",", 1)[0].strip() for line in f if line.strip() and not line.startswith("#")]


def ensure_token_file(path: str = DEFAULT_TOKEN_FILE) -> str:
    """Return the admin token, creating the token file with a random one if missing."""
    if os.path.exists(path):
        tokens = load_tokens(path)
        if tokens:
            return tokens[0]
    token = secrets.token_hex(24)
    _write_private(path, f'{token},admin,admin,"system:masters"\n'.encode())
    return token


def ensure_serving_cert(pki_dir: str = DEFAULT_PKI_DIR, hosts: tuple[str, ...] = ()) -> tuple[str, str, str]:
    """A CA and a serving certificate for 127.0.0.1, localhost, kubernetes.default...

    Returns the (ca, cert, key) paths; existing files are reused."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_path, cert_path, key_path = (
        os.path.join(pki_dir, n) for n in ("ca.crt", "apiserver.crt", "apiserver.key")
    )
    if all(os.path.exists(p) for p in (ca_path, cert_path, key_path)):
        return ca_path, cert_path, key_path
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "minikube_py-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName(n)
        for n in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    ips = {"127.0.0.1", "10.96.0.1", *hosts}
    for h in sorted(ips):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write_private(
        key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    _write_private(
        os.path.join(pki_dir, "ca.key"),
        ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    _write_private(cert_path, cert.public_bytes(pem))
    _write_private(ca_path, ca.public_bytes(pem))
    return ca_path, cert_path, key_path


def ensure_kubelet_client_cert(pki_dir: str = DEFAULT_PKI_DIR) -> tuple[str, str]:
    """The API server's client certificate towards kubelets (kubeadm's apiserver-kubelet-client).

    `kubectl logs/exec` on a pod of another machine reach that node's kubelet through the API
    server; the kubelet accepts only callers whose certificate this cluster CA signed. Needs the
    CA made by ensure_serving_cert; returns the (cert, key) paths, reused when present."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert_path, key_path = (os.path.join(pki_dir, n) for n in ("apiserver-kubelet-client.crt",
                                                              "apiserver-kubelet-client.key"))
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path, key_path
    with open(os.path.join(pki_dir, "ca.crt"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(pki_dir, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver-kubelet-client")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    pem = serialization.Encoding.PEM
    _write_private(
        key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    _write_private(cert_path, cert.public_bytes(pem))
    return cert_path, key_path


def write_kubeconfig(
    path: str, server: str, token: str, ca_file: str | None = None, cluster: str = "mkpy", user: str = "admin"
) -> str:
    """Write an admin kubeconfig (mode 600) that kubectl, the Python client and ours all read."""
    entry: dict = {"server": server}
    if ca_file:
        with open(ca_file, "rb") as f:
            entry["certificate-authority-data"] = base64.b64encode(f.read()).decode()
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster, "cluster": entry}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": cluster, "context": {"cluster": cluster, "user": user, "namespace": "default"}}
        ],
        "current-context": cluster,
    }
    _write_private(path, yaml.safe_dump(cfg, sort_keys=False).encode())
    return path


# ---------------------------------------------------------------- loopback, the CA hash
# Only these listen addresses may serve plain HTTP; every other address (127.0.0.2 too,
# which tests use as "another machine") gets TLS and mandatory authentication.
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback(host: str) -> bool:
    return host.strip("[]") in LOOPBACK


def ca_cert_hash(ca_pem: bytes) -> str:
    """kubeadm's --discovery-token-ca-cert-hash: sha256 of the CA's SubjectPublicKeyInfo (DER).

    Pinning the public key (not the whole certificate) lets a joining node trust a CA it
    downloaded over an unverified connection: a man in the middle cannot forge that key."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


# ---------------------------------------------------------------- bootstrap tokens
# The format and the Secret are kubeadm's: `abcdef.0123456789abcdef`, stored in kube-system as
# Secret `bootstrap-token-<id>` of type bootstrap.kubernetes.io/token.
BOOTSTRAP_TYPE = "bootstrap.kubernetes.io/token"
BOOTSTRAP_PREFIX = "bootstrap-token-"
BOOTSTRAP_GROUP = "system:bootstrappers"
NODE_CREDENTIAL_TYPE = "mkpy.io/node-credential"
NODE_CREDENTIAL_PREFIX = "node-credential-"
NODES_GROUP = "system:nodes"
_TOKEN_RE = r"^([a-z0-9]{6})\.([a-z0-9]{16})$"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class TokenError(ValueError):
    """A token that is malformed (named in the message)."""


def new_token() -> str:
    pick = secrets.choice
    return "".join(pick(_ALPHABET) for _ in range(6)) + "." + "".join(pick(_ALPHABET) for _ in range(16))


def split_token(token: str) -> tuple[str, str]:
    import re

    m = re.match(_TOKEN_RE, token or "")
    if not m:
        raise TokenError(f"token {token!r}: want <6 chars [a-z0-9]>.<16 chars [a-z0-9]>")
    return m.group(1), m.group(2)


def _b64s(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def bootstrap_token_secret(token: str, ttl_seconds: int = 86400, description: str = "") -> dict:
    """The Secret that makes `token` valid for joining until now + ttl (0 = forever)."""
    token_id, token_secret = split_token(token)
    data = {
        "token-id": token_id,
        "token-secret": token_secret,
        "usage-bootstrap-authentication": "true",
        "auth-extra-groups": "system:bootstrappers:mkpy:default-node-token",
    }
    if description:
        data["description"] = description
    if ttl_seconds:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl_seconds)
        data["expiration"] = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": BOOTSTRAP_PREFIX + token_id, "namespace": "kube-system"},
        "type": BOOTSTRAP_TYPE,
        "data": {k: _b64s(v) for k, v in data.items()},
    }


def node_credential_secret(node_name: str) -> tuple[str, dict]:
    """A fresh per-node token and the Secret that binds it to `system:node:<name>`.

    Only a hash of the secret half is stored: whoever reads the store cannot act as the node."""
    import hashlib

    token = new_token()
    token_id, token_secret = split_token(token)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": NODE_CREDENTIAL_PREFIX + token_id,
            "namespace": "kube-system",
            "labels": {"mkpy.io/node": node_name},
        },
        "type": NODE_CREDENTIAL_TYPE,
        "data": {
            "node-name": _b64s(node_name),
            "token-sha256": _b64s(hashlib.sha256(token_secret.encode()).hexdigest()),
        },
    }
    return token, secret


def secret_field(secret: dict, key: str) -> str:
    raw = (secret.get("data") or {}).get(key)
    return base64.b64decode(raw).decode() if raw else ""


def write_node_kubeconfig(path: str, server: str, token: str, ca_pem: bytes, node_name: str) -> str:
    """The kubeconfig a joined node's agents (kubelet, proxy) use: CA + the node's own token."""
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "mkpy",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": f"system:node:{node_name}", "user": {"token": token}}],
        "contexts": [{"name": "mkpy", "context": {"cluster": "mkpy", "user": f"system:node:{node_name}"}}],
        "current-context": "mkpy",
    }
    _write_private(path, yaml.safe_dump(cfg, sort_keys=False).encode())
    return path
