"""Which peer goes by host-gw and which through the VXLAN tunnel (multinode/routes.py)."""

from __future__ import annotations

import json

import pytest

from minikube_py.multinode.routes import BACKEND_DATA, split_by_backend
from minikube_py.network.vxlan import Peer


def node(name: str, cidr: str, ip: str, mac: str | None = None) -> dict:
    n = {"metadata": {"name": name}, "spec": {"podCIDR": cidr},
         "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}  # fmt: skip
    if mac:
        n["metadata"]["annotations"] = {BACKEND_DATA: json.dumps({"VtepMAC": mac})}
    return n


NODES = [
    node("me", "10.244.0.0/24", "192.168.1.2", "02:00:00:00:00:01"),
    node("near", "10.244.1.0/24", "192.168.1.3", "02:00:00:00:00:02"),  # our L2 segment
    node("far", "10.244.2.0/24", "10.9.0.4", "02:00:00:00:00:03"),  # behind a router
    node("far-old", "10.244.3.0/24", "10.9.0.5"),  # behind a router, no vxlan device published
]


def on_link(ip: str) -> bool:
    return ip.startswith("192.168.1.")


def test_auto_uses_host_gw_on_the_segment_and_vxlan_beyond_it():
    host_gw, tunnel = split_by_backend(NODES, "me", "10.244.0.0/24", "auto", on_link)
    assert host_gw == {"10.244.1.0/24": "192.168.1.3"}
    # the VTEP IP is the peer's pod CIDR network address; far-old cannot be reached: no route
    assert tunnel == {"10.244.2.0/24": Peer("10.244.2.0", "02:00:00:00:00:03", "10.9.0.4")}


def test_explicit_backends():
    host_gw, tunnel = split_by_backend(NODES, "me", "10.244.0.0/24", "host-gw", on_link)
    assert tunnel == {} and set(host_gw) == {"10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"}
    host_gw, tunnel = split_by_backend(NODES, "me", "10.244.0.0/24", "vxlan", on_link)
    assert host_gw == {} and set(tunnel) == {"10.244.1.0/24", "10.244.2.0/24"}
    with pytest.raises(ValueError, match="backend: 'flannel'"):
        split_by_backend(NODES, "me", "10.244.0.0/24", "flannel", on_link)
