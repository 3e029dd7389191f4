"""Several nodes on one machine: node namespaces on a LAN namespace, host-gw routes between them."""

from __future__ import annotations

import pytest

from minikube_py.network.fabric import connect_host_gw

from .conftest import connect_from, listen, pod_ip, sh_in

pytestmark = [pytest.mark.integration, pytest.mark.vm]


def test_pod_on_node_a_reaches_pod_on_node_b_and_leaves_the_cluster_masqueraded(nodes, pods):
    a, b = nodes.node(0), nodes.node(1)
    connect_host_gw([a, b])
    assert "10.244.1.0/24 via 192.168.50.3" in sh_in(a.netns_path, "ip", "route")
    conf_a, conf_b = a.write_conflist("mkpy"), b.write_conflist("mkpy")
    pa, pb = pods.new("xa"), pods.new("xb")
    ra = a.cni(conf_a, "ADD", "xa", pa)
    rb = b.cni(conf_b, "ADD", "xb", pb)
    try:
        assert pod_ip(ra).startswith("10.244.0.") and pod_ip(rb).startswith("10.244.1.")
        # across nodes, inside the cluster: no NAT, B sees A's pod address
        srv = listen(pb)
        try:
            assert connect_from(pa, srv, pod_ip(rb)) == pod_ip(ra)
        finally:
            srv.close()
        srv = listen(pa)
        try:
            assert connect_from(pb, srv, pod_ip(ra)) == pod_ip(rb)
        finally:
            srv.close()
        # leaving the cluster (to the LAN's "outside" address): masqueraded as the node
        srv = listen(nodes.lan.netns_path)
        try:
            assert connect_from(pa, srv, nodes.lan.gateway) == a.uplink.ip
            assert connect_from(pb, srv, nodes.lan.gateway) == b.uplink.ip
        finally:
            srv.close()
        # routes follow the node set: with B gone from the list, A forgets B's pod CIDR
        connect_host_gw([a])
        assert "10.244.1.0/24" not in sh_in(a.netns_path, "ip", "route")
    finally:
        a.cni(conf_a, "DEL", "xa", pa)
        b.cni(conf_b, "DEL", "xb", pb)
