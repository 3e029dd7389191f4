"""host-gw routes follow the Node objects: one route per other node's pod CIDR, via its InternalIP."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from minikube_py.api.testing import ThreadedApiServer
from minikube_py.multinode.routes import HostGwAgent, desired_routes
from minikube_py.network.fabric import Fabric
from minikube_py.network.netns import open_iproute
from minikube_py.network.node import RTPROT_MKPY, NodeNetwork

pytestmark = pytest.mark.integration


def node(name: str, cidr: str | None, ip: str | None) -> dict:
    n: dict = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {}, "status": {}}
    if cidr:
        n["spec"]["podCIDR"] = cidr
    if ip:
        n["status"]["addresses"] = [
            {"type": "InternalIP", "address": ip},
            {"type": "Hostname", "address": name},
        ]
    return n


def test_desired_routes_skip_ourselves_incomplete_and_overlapping_nodes():
    nodes = [
        node("me", "10.244.0.0/24", "192.168.50.2"),
        node("a", "10.244.1.0/24", "192.168.50.3"),
        node("no-ip", "10.244.2.0/24", None),
        node("no-cidr", None, "192.168.50.5"),
        node("clash", "10.244.0.0/25", "192.168.50.6"),
    ]
    assert desired_routes(nodes, "me", "10.244.0.0/24") == {"10.244.1.0/24": "192.168.50.3"}


def mkpy_routes(net: NodeNetwork) -> dict[str, str]:
    with open_iproute(net.netns_path) as ipr:
        return {
            f"{r.get_attr('RTA_DST')}/{r['dst_len']}": r.get_attr("RTA_GATEWAY")
            for r in ipr.get_routes(family=2, table=254)
            if r["proto"] == RTPROT_MKPY
        }


def test_agent_keeps_routes_in_step_with_nodes(tmp_path):
    uid = uuid.uuid4().hex[:6]
    lan = Fabric(f"mkpyt-mn-{uid}-lan", "192.168.50.0/24")
    net = NodeNetwork(
        f"mkpyt-mn-{uid}-n0",
        "10.244.0.0/24",
        tmp_path / "n0",
        cluster_cidr="10.244.0.0/16",
        uplink=lan.uplink(f"mkmn{uid}p0", 2),  # <= 15 chars: an interface name
    )
    api = ThreadedApiServer(f"sqlite://{tmp_path}/state.db", token="mkpyt-mn-admin")
    agent = None
    try:
        lan.ensure()
        net.ensure()
        api.start()
        c = api.client
        c.create(node("n0", "10.244.0.0/24", "192.168.50.2"))
        c.create(node("n1", "10.244.1.0/24", "192.168.50.3"))
        agent = HostGwAgent(api.client, net, "n0")
        t = threading.Thread(target=agent.run, daemon=True)
        t.start()

        def wait(want):
            deadline = time.monotonic() + 20
            while mkpy_routes(net) != want:
                assert time.monotonic() < deadline, f"routes {mkpy_routes(net)} != {want}"
                time.sleep(0.1)

        wait({"10.244.1.0/24": "192.168.50.3"})
        c.create(node("n2", "10.244.2.0/24", "192.168.50.4"))
        wait({"10.244.1.0/24": "192.168.50.3", "10.244.2.0/24": "192.168.50.4"})
        c.delete("nodes", "n1")
        wait({"10.244.2.0/24": "192.168.50.4"})
        agent.stop()
        t.join(10)
        assert not t.is_alive()
    finally:
        if agent is not None:
            agent.stop()
        api.stop()
        net.destroy()
        lan.destroy()
