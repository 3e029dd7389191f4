"""VXLAN between two nodes that a router separates (so host-gw is impossible), all in netns.

    pod a ─ n-a: mkpy0, eth0 10.0.1.2/24 ──┐                ┌── 10.0.2.2/24 eth0, mkpy0 :n-b ─ pod b
                                          └─ router netns ─┘
                                          10.0.1.1    10.0.2.1

Each node runs the real route agent (`--backend auto`) against a real API server: it finds the
other node off its L2 segment, so it builds the tunnel (device mkpy.1, a route onlink, a neighbour,
an fdb entry) from the VTEP MAC the other agent published on its Node. Pods are wired by mkpy-cni.
"""

from __future__ import annotations

import json
import os
import threading
import uuid

import pytest
from waiting import wait_for as _wait_for

from minikube_py.api.testing import ThreadedApiServer
from minikube_py.multinode.routes import BACKEND_DATA, PUBLIC_IP, RouteAgent
from minikube_py.network import vxlan
from minikube_py.network.netns import (
    create_netns,
    delete_netns,
    netns_path,
    open_iproute,
    run_in_netns,
    write_sysctl,
)
from minikube_py.network.node import RTPROT_MKPY, NodeNetwork, Uplink

pytestmark = pytest.mark.integration


def node(name: str, cidr: str, ip: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {"podCIDR": cidr},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]
        },
    }


def state(net: NodeNetwork) -> dict:
    """What the tunnel consists of in a node's netns: routes, permanent neighbours, fdb entries."""
    with open_iproute(net.netns_path) as ipr:
        idx = ipr.link_lookup(ifname=vxlan.DEVICE)
        if not idx:
            return {"device": None}
        link = ipr.get_links(idx[0])[0]
        info = link.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
        routes = {
            f"{r.get_attr('RTA_DST')}/{r['dst_len']}": (
                r.get_attr("RTA_GATEWAY"),
                r.get_attr("RTA_OIF") == idx[0],
                bool(r["flags"] & vxlan.RTNH_F_ONLINK),
            )
            for r in ipr.get_routes(family=2, table=254)
            if r["proto"] == RTPROT_MKPY
        }
        neigh = {
            n.get_attr("NDA_DST"): n.get_attr("NDA_LLADDR")
            for n in ipr.get_neighbours(family=2, ifindex=idx[0])
            if n["state"] & vxlan.NUD_PERMANENT
        }
        return {
            "device": {
                "vni": info.get_attr("IFLA_VXLAN_ID"),
                "port": info.get_attr("IFLA_VXLAN_PORT"),
                "learning": info.get_attr("IFLA_VXLAN_LEARNING"),
                "mtu": link.get_attr("IFLA_MTU"),
                "mac": link.get_attr("IFLA_ADDRESS"),
            },
            "tx_bytes": link.get_attr("IFLA_STATS64")["tx_bytes"],
            "routes": routes,
            "neigh": neigh,
            "fdb": {
                f["lladdr"]: f["dst"]
                for f in vxlan.Vxlan(net.netns_path, "0.0.0.0", "10.0.0.0/8").fdb_entries(ipr)
            },
        }


def wait_for(what: str, fn, timeout: float = 30.0):
    return _wait_for(what, fn, timeout)


def tcp_echo_in(netns: str, ip: str) -> tuple[threading.Thread, int, list[str]]:
    """A one-shot TCP server inside a pod's netns that answers with the caller's address."""
    import socket

    srv = run_in_netns(netns, lambda: socket.create_server((ip, 0)))
    seen: list[str] = []

    def serve() -> None:
        with srv:
            srv.settimeout(20)
            conn, peer = srv.accept()
            with conn:
                seen.append(peer[0])
                conn.settimeout(20)
                size = 0
                while chunk := conn.recv(65536):  # until the caller's shutdown
                    size += len(chunk)
                conn.sendall(f"from {ip} to {peer[0]} len {size}".encode())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t, srv.getsockname()[1], seen


def call_from(netns: str, ip: str, port: int, payload: bytes) -> str:
    import socket

    def go() -> str:
        with socket.create_connection((ip, port), timeout=10) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            return s.recv(4096).decode()

    return run_in_netns(netns, go)


def test_pods_reach_each_other_through_vxlan_across_a_router(tmp_path):
    uid = uuid.uuid4().hex[:5]
    router = netns_path(f"mkpyt-mn2-{uid}-rt")
    nets = {
        name: NodeNetwork(
            f"mkpyt-mn2-{uid}-{name}",
            cidr,
            tmp_path / name,
            cluster_cidr="10.244.0.0/16",
            uplink=Uplink(
                peer_netns=router,
                address=f"{under}.2/24",
                peer_name=f"mkmn{uid}{name[-1]}",
                peer_address=f"{under}.1/24",
                gateway=f"{under}.1",
            ),
        )
        for name, cidr, under in (("n-a", "10.244.1.0/24", "10.0.1"), ("n-b", "10.244.2.0/24", "10.0.2"))
    }
    api = ThreadedApiServer(f"sqlite://{tmp_path}/state.db", token="mkpyt-mn2-admin")
    agents: dict[str, RouteAgent] = {}
    threads = []
    pods: dict[str, tuple[str, str]] = {}  # node -> (pod netns path, pod ip)
    try:
        create_netns(router)
        write_sysctl(router, "net.ipv4.ip_forward", "1")
        for n in nets.values():
            n.ensure()
        # host-gw cannot work here: the router has no route to any pod CIDR
        assert not nets["n-a"].on_link("10.0.2.2") and nets["n-a"].on_link("10.0.1.1")
        api.start()
        c = api.client
        c.create(node("n-a", "10.244.1.0/24", "10.0.1.2"))
        c.create(node("n-b", "10.244.2.0/24", "10.0.2.2"))
        for name, ip in (("n-a", "10.0.1.2"), ("n-b", "10.0.2.2")):
            agents[name] = RouteAgent(api.client, nets[name], name, backend="auto", node_ip=ip)
            threads.append(threading.Thread(target=agents[name].run, daemon=True))
            threads[-1].start()
        for name, n in nets.items():
            p = netns_path(f"mkpyt-mn2-{uid}-pod-{name}")
            create_netns(p)
            res = n.cni(n.write_conflist(), "ADD", f"mkpyt-mn2-{uid}-{name}", p)
            pods[name] = (p, res["ips"][0]["address"].split("/")[0])

        b = wait_for(
            "n-b's tunnel to n-a", lambda: (s := state(nets["n-b"]))["device"] and s.get("fdb") and s
        )
        a = wait_for(
            "n-a's tunnel to n-b", lambda: (s := state(nets["n-a"]))["device"] and s.get("fdb") and s
        )
        # the device: VNI 1, flannel's port, no learning, MTU 1450
        assert a["device"] | {"mac": None} == {
            "vni": 1,
            "port": 8472,
            "learning": 0,
            "mtu": 1450,
            "mac": None,
        }
        # the VTEP MAC and public IP are on the Node, and n-a's three entries point at n-b
        ann = c.get("nodes", "n-b")["metadata"]["annotations"]
        assert (
            json.loads(ann[BACKEND_DATA]) == {"VtepMAC": b["device"]["mac"]} and ann[PUBLIC_IP] == "10.0.2.2"
        )
        assert a["routes"] == {"10.244.2.0/24": ("10.244.2.0", True, True)}
        assert a["neigh"] == {"10.244.2.0": b["device"]["mac"]}
        assert a["fdb"] == {b["device"]["mac"]: "10.0.2.2"}
        assert b["routes"] == {"10.244.1.0/24": ("10.244.1.0", True, True)}

        # pod a -> pod b across the router: the callee sees pod a's own address (no NAT), and a
        # payload of many full-size packets arrives whole (pods have MTU 1500, the tunnel 1450: path
        # MTU discovery shrinks the segments)
        (pa, ipa), (pb, ipb) = pods["n-a"], pods["n-b"]
        t, port, seen = tcp_echo_in(pb, ipb)
        answer = call_from(pa, ipb, port, b"x" * 60000)
        t.join(20)
        assert answer == f"from {ipb} to {ipa} len 60000", answer
        assert seen == [ipa]
        # ... and it went through n-a's tunnel device (the only way across: the router knows no pods)
        assert state(nets["n-a"])["tx_bytes"] - a["tx_bytes"] >= 60000
        t, port, seen = tcp_echo_in(pa, ipa)
        assert call_from(pb, ipa, port, b"hi") == f"from {ipa} to {ipb} len 2"
        t.join(20)

        # n-b leaves the cluster: n-a's route, neighbour and fdb entry for it go
        c.delete("nodes", "n-b")
        wait_for(
            "n-a forgets n-b",
            lambda: (s := state(nets["n-a"]))["routes"] == {} and s["neigh"] == {} and s["fdb"] == {},
        )
    finally:
        for agent in agents.values():
            agent.stop()
        for t in threads:
            t.join(10)
        for agent in agents.values():
            agent.teardown()
        api.stop()
        for name, (p, _) in pods.items():
            nets[name].cni(nets[name].write_conflist(), "DEL", f"mkpyt-mn2-{uid}-{name}", p)
            delete_netns(p)
        for n in nets.values():
            n.destroy()
        if os.path.exists(router):
            delete_netns(router)
    assert all(not t.is_alive() for t in threads)
    for n in nets.values():
        assert not os.path.exists(n.netns_path)
