"""Routes between nodes, flannel-style: host-gw where it can, VXLAN where it must.

Every node runs this loop. It watches the Node objects and keeps one route per other node:

  host-gw   10.244.1.0/24 via 192.168.56.11                 (w1's podCIDR via w1's InternalIP)
  vxlan     10.244.1.0/24 via 10.244.1.0 dev mkpy.1 onlink  (+ a neighbour and an fdb entry)

host-gw hands the pod packet, addresses intact, to the other node on the LAN (the node network
does not masquerade traffic inside the cluster CIDR), so it needs both nodes on one L2 segment:
a router between them would not know 10.244.1.0/24. VXLAN (network/vxlan.py) wraps the packet
in UDP between the nodes' own addresses, which routers do forward. `--backend`:

  host-gw   every peer by host-gw
  vxlan     every peer through the tunnel
  auto      per peer: host-gw when the kernel reaches its InternalIP without a gateway (same L2
            segment), else VXLAN

With vxlan or auto the agent creates the node's vxlan device and publishes it on its Node, as
flannel does with its flannel.alpha.coreos.com/* annotations:

  mkpy.io/backend-type: vxlan    mkpy.io/backend-data: {"VtepMAC": "..."}    mkpy.io/public-ip: <node IP>
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from minikube_py.network.vxlan import Peer, Vxlan, vtep_ip

BACKENDS = ("host-gw", "vxlan", "auto")
BACKEND_TYPE = "mkpy.io/backend-type"
BACKEND_DATA = "mkpy.io/backend-data"
PUBLIC_IP = "mkpy.io/public-ip"

log = logging.getLogger("mkpy.routes")


def internal_ip(node: dict) -> str | None:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return a.get("address")
    return None


def peer_nodes(nodes: list[dict], me: str, my_cidr: str | None = None) -> list[tuple[str, str, dict]]:
    """(pod CIDR, InternalIP, Node) of every other node that has both (and does not overlap ours)."""
    mine = ipaddress.ip_network(my_cidr) if my_cidr else None
    out = []
    for n in nodes:
        name = n["metadata"]["name"]
        cidr = (n.get("spec") or {}).get("podCIDR")
        ip = internal_ip(n)
        if name == me or not cidr or not ip:
            continue
        net = ipaddress.ip_network(cidr, strict=False)
        if mine is not None and net.overlaps(mine):
            log.warning("node %s: pod CIDR %s overlaps ours (%s); no route", name, cidr, mine)
            continue
        out.append((str(net), ip, n))
    return out


def desired_routes(nodes: list[dict], me: str, my_cidr: str | None = None) -> dict[str, str]:
    """{pod CIDR: node IP} for every other node that has both (and does not overlap ours)."""
    return {cidr: ip for cidr, ip, _ in peer_nodes(nodes, me, my_cidr)}


def vtep_mac(node: dict) -> str | None:
    """The VTEP MAC a node published (None: it has no vxlan device)."""
    ann = (node.get("metadata") or {}).get("annotations") or {}
    try:
        return json.loads(ann.get(BACKEND_DATA) or "{}").get("VtepMAC")
    except ValueError:
        return None


def split_by_backend(
    nodes: list[dict], me: str, my_cidr: str | None, backend: str, on_link: Callable[[str], bool]
) -> tuple[dict[str, str], dict[str, Peer]]:
    """({pod CIDR: node IP} for host-gw, {pod CIDR: Peer} for the tunnel)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    host_gw: dict[str, str] = {}
    tunnel: dict[str, Peer] = {}
    for cidr, ip, node in peer_nodes(nodes, me, my_cidr):
        if backend == "host-gw" or (backend == "auto" and on_link(ip)):
            host_gw[cidr] = ip
            continue
        mac = vtep_mac(node)
        if not mac:
            name = node["metadata"]["name"]
            log.warning("node %s (%s): no VTEP MAC published (no vxlan there yet): no route", name, ip)
            continue
        tunnel[cidr] = Peer(vtep_ip(cidr), mac, ip)
    return host_gw, tunnel


class RouteAgent:
    """List + watch Nodes; after each change, make the routes exactly what the backend wants
    (`backend="vxlan"|"auto"` needs `node_ip`: the tunnel's local end)."""

    def __init__(
        self,
        client: Any,
        network: Any,
        node_name: str,
        resync: float = 30.0,
        *,
        backend: str = "host-gw",
        node_ip: str = "",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend: {backend!r} is not one of {', '.join(BACKENDS)}")
        if backend != "host-gw" and not node_ip:
            raise ValueError(f"backend {backend}: needs node_ip (the tunnel's local address)")
        self.client, self.network, self.node_name, self.resync = client, network, node_name, resync
        self.backend, self.node_ip = backend, node_ip
        self.vxlan = (
            Vxlan(network.netns_path, node_ip, str(network.pod_cidr))
            if backend != "host-gw"
            else None
        )
        self.published = False
        self.stopping = threading.Event()
        self.applied: tuple | None = None

    def publish(self) -> None:
        """Create our vxlan device and put its MAC on our Node (other nodes build their fdb from it)."""
        assert self.vxlan is not None
        mac = self.vxlan.ensure()
        data = {BACKEND_TYPE: "vxlan", BACKEND_DATA: json.dumps({"VtepMAC": mac}), PUBLIC_IP: self.node_ip}
        self.client.patch("nodes", self.node_name, {"metadata": {"annotations": data}})
        log.info("vxlan: %s VTEP %s MAC %s on %s", self.vxlan.device, vtep_ip(self.vxlan.pod_cidr), mac,
                 self.node_ip)
        self.published = True

    def sync(self) -> dict[str, str]:
        """Apply the routes; returns {pod CIDR: node IP} of every peer reached (either backend)."""
        if self.vxlan is not None and not self.published:
            self.publish()
        nodes = self.client.list("nodes")["items"]
        host_gw, tunnel = split_by_backend(
            nodes, self.node_name, str(self.network.pod_cidr), self.backend, self.network.on_link
        )
        if (host_gw, tunnel) != self.applied:
            self.network.set_peer_routes(host_gw, (self.vxlan, tunnel) if self.vxlan else None)
            log.info(
                "routes: %s",
                ", ".join([f"{c} via {ip}" for c, ip in sorted(host_gw.items())]
                          + [f"{c} vxlan to {p.node_ip}" for c, p in sorted(tunnel.items())]) or "none",
            )  # fmt: skip
            self.applied = (host_gw, tunnel)
        return {**host_gw, **{c: p.node_ip for c, p in tunnel.items()}}

    def teardown(self) -> None:
        """Stopping (mkpy down): our routes go, and the vxlan device with its neighbours and fdb."""
        self.network.set_peer_routes({}, (self.vxlan, {}) if self.vxlan else None)
        if self.vxlan is not None:
            self.vxlan.destroy()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.sync()
                w = self.client.watch("nodes", timeout_seconds=int(self.resync))
                self._watch = w
                for _ in w:
                    if self.stopping.is_set():
                        break
                    self.sync()
            except Exception as exc:  # noqa: BLE001 - the API may be away for a moment: retry
                log.warning("host-gw: %s; retrying", exc)
                self.stopping.wait(2.0)

    def stop(self) -> None:
        self.stopping.set()
        w = getattr(self, "_watch", None)
        if w is not None:
            w.stop()


HostGwAgent = RouteAgent  # its name while host-gw was the only backend
