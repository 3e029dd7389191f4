"""Joining, node side: trust the control plane, then trade the join token for our own credential.

1. GET https://SERVER/mkpy/cluster-info without verifying TLS (we do not know the CA yet),
   and keep the CA only if sha256(its public key) == --ca-cert-hash. That hash came to us
   out of band (the synced folder, a chat message), so a machine in the middle cannot
   substitute its own CA: kubeadm's "discovery token CA cert hash".
2. POST /mkpy/join over TLS verified by that CA, with the bootstrap token: the answer is a
   token bound to system:node:<name> (the join token itself only ever opens this door).
3. Write a kubeconfig with the server, the CA and the node token for the node's agents.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

from minikube_py.api import auth
from minikube_py.api.client import Client
from minikube_py.api.errors import ApiError

DEFAULT_NODE_KUBECONFIG = "/etc/mkpy/kubelet.kubeconfig"


class JoinError(Exception):
    """Joining failed; the message says at which step and why."""


def discover_ca(server: str, ca_cert_hash: str, timeout: float = 10.0) -> bytes:
    """Step 1: the cluster CA, pinned by the hash of its public key."""
    if not server.startswith("https://"):
        raise JoinError(f"--server {server!r}: must be https:// (the API refuses plain HTTP off loopback)")
    if not ca_cert_hash.startswith("sha256:") or len(ca_cert_hash) != 7 + 64:
        raise JoinError(f"--ca-cert-hash {ca_cert_hash!r}: want sha256:<64 hex digits>")
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(server + "/mkpy/cluster-info", timeout=timeout, context=unverified) as r:
            ca_pem = json.loads(r.read())["certificateAuthority"].encode()
    except (OSError, ValueError, KeyError) as e:
        raise JoinError(f"cluster-info from {server}: {e}") from None
    got = auth.ca_cert_hash(ca_pem)
    if got != ca_cert_hash.lower():
        raise JoinError(f"--ca-cert-hash: the server's CA hashes to {got}, not {ca_cert_hash}; refusing it")
    return ca_pem


def exchange_token(server: str, ca_pem: bytes, bootstrap_token: str, node_name: str) -> str:
    """Step 2: the bootstrap token buys a per-node token."""
    auth.split_token(bootstrap_token)  # a malformed token fails here, naming itself
    c = Client(server, token=bootstrap_token, ca_data=ca_pem)
    try:
        answer = c.request("POST", "/mkpy/join", {"nodeName": node_name})
    except ApiError as e:
        raise JoinError(f"join as {node_name}: {e.reason}: {e.message}") from None
    except (OSError, ssl.SSLError) as e:
        raise JoinError(f"join as {node_name}: {e}") from None
    finally:
        c.close()
    return answer["token"]


def join(
    server: str,
    bootstrap_token: str,
    ca_cert_hash: str,
    node_name: str,
    kubeconfig: str = DEFAULT_NODE_KUBECONFIG,
) -> str:
    """All three steps; returns the kubeconfig path the node's agents should use."""
    try:
        auth.split_token(bootstrap_token)
    except auth.TokenError as e:
        raise JoinError(f"--token: {e}") from None
    ca_pem = discover_ca(server, ca_cert_hash)
    token = exchange_token(server, ca_pem, bootstrap_token, node_name)
    return auth.write_node_kubeconfig(kubeconfig, server, token, ca_pem, node_name)


def node_ip_towards(server: str) -> str:
    """The local address the kernel would use to reach `server`: our LAN IP on that network.

    (connect() on a UDP socket sends nothing; it only picks the route and the source address.)"""
    import socket
    import urllib.parse

    url = urllib.parse.urlsplit(server)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((url.hostname or "127.0.0.1", url.port or 6443))
        return s.getsockname()[0]


def claim_pod_cidr(kubeconfig: str, node_name: str, timeout: float = 60.0) -> str:
    """Make our Node object (if it is not there yet) and wait for the node-IPAM controller to give
    it a pod CIDR: the node network must be built with it before the kubelet starts."""
    import time

    c = Client.from_kubeconfig(kubeconfig, timeout=10)
    try:
        try:
            c.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name}})
        except ApiError as e:
            if e.code != 409:
                raise JoinError(f"register node {node_name}: {e.reason}: {e.message}") from None
        deadline = time.monotonic() + timeout
        while True:
            cidr = (c.get("nodes", node_name).get("spec") or {}).get("podCIDR")
            if cidr:
                return cidr
            if time.monotonic() > deadline:
                raise JoinError(
                    f"node {node_name} got no spec.podCIDR in {timeout:.0f} s: is the control plane's "
                    "controller-manager running with the nodeipam controller?"
                )
            time.sleep(0.3)
    finally:
        c.close()
