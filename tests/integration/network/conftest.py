"""Fixtures for pod-networking tests: a LAN namespace, nodes on it, pod namespaces, TCP probes.

Every name carries `mkpyt-net-<run id>` so concurrent runs and the leak check can tell them apart.
Traffic goes only between namespaces the test made; the host's namespace is never touched.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from minikube_py.network import NodeNetwork, create_netns, delete_netns
from minikube_py.network.fabric import Fabric
from minikube_py.network.netns import run_in_netns

CLUSTER_CIDR = "10.244.0.0/16"


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture
def lan(uid: str) -> Iterator[Fabric]:
    fabric = Fabric(f"mkpyt-net-{uid}-lan", "192.168.50.0/24")
    try:
        yield fabric.ensure()
    finally:
        fabric.destroy()


class Nodes:
    """Makes nodes on the LAN: node(i) has pod CIDR 10.244.i.0/24 and LAN address 192.168.50.(i+2)."""

    def __init__(self, uid: str, lan: Fabric, tmp_path) -> None:
        self.uid, self.lan, self.tmp = uid, lan, tmp_path
        self.made: list[NodeNetwork] = []

    def spec(self, i: int, **kwargs) -> NodeNetwork:
        return NodeNetwork(
            f"mkpyt-net-{self.uid}-n{i}",
            f"10.244.{i}.0/24",
            self.tmp / f"node{i}",
            cluster_cidr=CLUSTER_CIDR,
            uplink=self.lan.uplink(f"n{i}", i + 2),
            **kwargs,
        )

    def node(self, i: int, **kwargs) -> NodeNetwork:
        n = self.spec(i, **kwargs)
        self.made.append(n)
        return n.ensure()

    def destroy(self) -> None:
        for n in self.made:
            n.destroy()


@pytest.fixture
def nodes(uid: str, lan: Fabric, tmp_path) -> Iterator[Nodes]:
    made = Nodes(uid, lan, tmp_path)
    try:
        yield made
    finally:
        made.destroy()


class Pods:
    """Pod network namespaces (the 'sandboxes'); removed at the end whatever happened."""

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.paths: list[str] = []

    def new(self, name: str) -> str:
        path = f"/run/netns/mkpyt-net-{self.uid}-{name}"
        self.paths.append(create_netns(path))
        return path

    def destroy(self) -> None:
        for p in self.paths:
            delete_netns(p)


@pytest.fixture
def pods(uid: str) -> Iterator[Pods]:
    made = Pods(uid)
    try:
        yield made
    finally:
        made.destroy()


# ---------------------------------------------------------------- probes
def listen(netns: str | None) -> socket.socket:
    """A TCP listener on 0.0.0.0:<free port> inside `netns` (a socket keeps the namespace it was made in)."""
    sock = run_in_netns(netns, lambda: socket.create_server(("0.0.0.0", 0)))
    sock.settimeout(10)
    return sock


def connect_from(netns: str, server: socket.socket, ip: str, timeout: float = 5) -> str:
    """Connect from `netns` to ip:<server's port>; return the source address the server saw."""
    port = server.getsockname()[1]
    client = run_in_netns(netns, lambda: socket.create_connection((ip, port), timeout=timeout))
    try:
        conn, (peer, _) = server.accept()
        conn.close()
        return peer
    finally:
        client.close()


def can_connect(netns: str, server: socket.socket, ip: str, timeout: float = 2) -> bool:
    try:
        connect_from(netns, server, ip, timeout)
        return True
    except OSError:
        return False


def pod_ip(result: dict) -> str:
    return result["ips"][0]["address"].split("/")[0]


def sh_in(netns: str, *argv: str) -> str:
    """A command inside a namespace, for checks only (never in product code)."""
    import subprocess

    return subprocess.run(
        ["nsenter", f"--net={netns}", "--", *argv], check=True, capture_output=True, text=True
    ).stdout


def netns_inventory(netns: str) -> dict:
    """Links, addresses, routes and iptables rules of a namespace: what a clean DEL must restore."""
    return {
        "links": sh_in(netns, "ip", "-o", "link", "show").count("\n"),
        "addrs": sorted(sh_in(netns, "ip", "-o", "-4", "addr", "show").split("\n")),
        # "linkdown" only says whether the bridge has a port with carrier right now
        "routes": sorted(
            r.replace(" linkdown", "")
            for r in sh_in(netns, "ip", "-4", "route", "show", "table", "all").split("\n")
        ),
        "neigh_perm": sh_in(netns, "ip", "neigh", "show", "nud", "permanent"),
        "netns": sorted(n for n in os.listdir("/run/netns") if n.startswith("mkpyt-net")),
    }
