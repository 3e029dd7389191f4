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
