"""Node namespaces and pod netns files, on the real kernel."""

from __future__ import annotations

import subprocess
import sys

import pytest

from minikube_py.network import NetworkError, NodeNetwork, create_netns, delete_netns, is_netns
from minikube_py.network.netns import read_sysctl

from .conftest import can_connect, listen, sh_in

pytestmark = pytest.mark.integration


def test_netns_file_survives_the_process_that_made_it(uid):
    path = f"/run/netns/mkpyt-net-{uid}-survivor"
    code = f"from minikube_py.network import create_netns; create_netns({path!r})"
    try:
        subprocess.run([sys.executable, "-c", code], check=True)
        assert is_netns(path)
        assert "lo" in sh_in(path, "ip", "-br", "link")
        with pytest.raises(NetworkError, match="already exists"):
            create_netns(path)
    finally:
        delete_netns(path)
    assert not is_netns(path)
    delete_netns(path)  # idempotent


@pytest.mark.vm
def test_node_namespace_has_bridge_forwarding_and_masquerade(nodes):
    node = nodes.node(0)
    ns = node.netns_path
    assert "10.244.0.1/24" in sh_in(ns, "ip", "-br", "addr", "show", "mkpy0")
    assert read_sysctl(ns, "net.ipv4.ip_forward") == "1"
    assert read_sysctl(ns, "net.bridge.bridge-nf-call-iptables") == "1"
    node.ensure()  # a second ensure (an agent restart) changes nothing
    rules = _save(node)
    assert rules.count("-j MKPY-POSTROUTING") == 1
    assert "-A MKPY-POSTROUTING -s 10.244.0.0/24 -d 10.244.0.0/16 -j RETURN" in rules
    assert "-j MASQUERADE" in rules
    # the uplink: the node reaches the LAN gateway
    server = listen(nodes.lan.netns_path)
    try:
        assert can_connect(ns, server, nodes.lan.gateway)
    finally:
        server.close()


def _save(node: NodeNetwork) -> str:
    from minikube_py.network import netfilter

    return netfilter.save(node.netns_path, "nat")


def test_destroy_removes_namespace_and_the_far_end_of_the_uplink(nodes):
    node = nodes.node(1)
    assert "n1" in sh_in(nodes.lan.netns_path, "ip", "-br", "link")
    node.destroy()
    assert not is_netns(node.netns_path)
    assert "n1" not in sh_in(nodes.lan.netns_path, "ip", "-br", "link")
    node.destroy()  # idempotent


def test_bad_input_names_the_field_and_creates_nothing(tmp_path, uid):
    for kwargs, field in [
        ({"pod_cidr": "10.244.0.0/33"}, "pod_cidr"),
        ({"pod_cidr": "10.244.0.1/24"}, "pod_cidr"),
        ({"pod_cidr": "10.245.0.0/24", "cluster_cidr": "10.244.0.0/16"}, "cluster_cidr"),
        ({"pod_cidr": "10.244.0.0/24", "bridge": "a-very-long-bridge-name"}, "bridge"),
        ({"pod_cidr": "10.244.0.0/24", "mtu": 10}, "mtu"),
    ]:
        with pytest.raises(NetworkError, match=field):
            NodeNetwork(f"mkpyt-net-{uid}-bad", state_root=tmp_path, **kwargs).ensure()
        assert not is_netns(f"/run/netns/mkpyt-net-{uid}-bad")


def test_point_to_point_uplink_to_an_outside_namespace(uid, pods, tmp_path):
    """The simplest uplink: a veth straight to a namespace playing the internet (no LAN bridge)."""
    from minikube_py.network import Uplink

    from .conftest import connect_from, pod_ip

    outside = pods.new("outside")
    up = Uplink(
        peer_netns=outside,
        address="172.31.0.2/30",
        peer_name="to-node",
        gateway="172.31.0.1",
        peer_address="172.31.0.1/30",
    )
    node = NodeNetwork(f"mkpyt-net-{uid}-p2p", "10.244.5.0/24", tmp_path, uplink=up)
    try:
        node.ensure()
        conf = node.write_conflist("mkpy")
        pod = pods.new("p2p-pod")
        r = node.cni(conf, "ADD", "p2p", pod)
        srv = listen(outside)
        try:
            assert connect_from(pod, srv, "172.31.0.1") == "172.31.0.2"  # masqueraded as the node
            assert connect_from(node.netns_path, srv, "172.31.0.1") == "172.31.0.2"
        finally:
            srv.close()
        assert pod_ip(r).startswith("10.244.5.")
        node.cni(conf, "DEL", "p2p", pod)
    finally:
        node.destroy()
    assert "to-node" not in sh_in(outside, "ip", "-br", "link")
