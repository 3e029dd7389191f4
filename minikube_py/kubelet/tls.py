"""The kubelet's HTTPS endpoint on its node's LAN address (kubelet's :10250).

On a machine of a multi-node cluster the API server reaches this kubelet over the network for
`kubectl logs/exec/port-forward` and for metrics. Like a default kubelet we serve with a
self-signed certificate (`<root>/pki/kubelet.crt`; the API server does not verify it, like
`--kubelet-insecure-tls`) and we authenticate every caller: the TLS handshake demands a client
certificate signed by the cluster CA (`--client-ca-file`, by default the CA in our kubeconfig).
Only the API server holds one (auth.ensure_kubelet_client_cert), so a pod or another machine on
the LAN cannot exec into our pods.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import ssl

import yaml


class KubeletTLSError(Exception):
    """The kubelet cannot serve HTTPS: the message names the missing piece."""


def ca_from_kubeconfig(kubeconfig: str, out_path: str) -> str:
    """Write the cluster CA of a kubeconfig to `out_path` (the default client CA of a worker)."""
    with open(kubeconfig) as f:
        cfg = yaml.safe_load(f) or {}
    for c in cfg.get("clusters") or []:
        cluster = c.get("cluster") or {}
        if cluster.get("certificate-authority-data"):
            data = base64.b64decode(cluster["certificate-authority-data"])
        elif cluster.get("certificate-authority"):
            with open(cluster["certificate-authority"], "rb") as f:
                data = f.read()
        else:
            continue
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        with open(out_path, "wb") as f:
            f.write(data)
        return out_path
    raise KubeletTLSError(f"--kubeconfig {kubeconfig}: no cluster CA in it (give --client-ca-file)")


def ensure_self_signed(pki_dir: str, node_name: str, ips: list[str]) -> tuple[str, str]:
    """`<pki_dir>/kubelet.crt` and `.key`: a self-signed serving certificate for this node."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = os.path.join(pki_dir, "kubelet.crt"), os.path.join(pki_dir, "kubelet.key")
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path, key_path
    os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@kubelet")])
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    sans: list[x509.GeneralName] = [x509.DNSName(node_name)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(pem))
    return cert_path, key_path


def server_context(cert: str, key: str, client_ca: str) -> ssl.SSLContext:
    """TLS that refuses any caller without a certificate from `client_ca` (kubelet --client-ca-file)."""
    if not os.path.exists(client_ca):
        raise KubeletTLSError(f"--client-ca-file {client_ca}: no such file")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(cert, key)
    return ctx
