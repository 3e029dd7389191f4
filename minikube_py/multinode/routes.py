"""host-gw, flannel's simplest backend: reach another node's pods by routing its pod CIDR to it.

Every node runs this loop. It watches the Node objects and keeps one route per other node:

    10.244.1.0/24 via 192.168.56.11     (w1's spec.podCIDR via w1's InternalIP)

so a packet from a pod here to a pod on w1 leaves through the LAN with its pod addresses intact
(the node network does not masquerade traffic inside the cluster CIDR), and w1's bridge
delivers it. This needs every node on one L2 segment (a router between them would not know
10.244.1.0/24); across routers flannel wraps packets in VXLAN instead (not built here).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from typing import Any

log = logging.getLogger("mkpy.routes")


def internal_ip(node: dict) -> str | None:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return a.get("address")
    return None


def desired_routes(nodes: list[dict], me: str, my_cidr: str | None = None) -> dict[str, str]:
    """{pod CIDR: node IP} for every other node that has both (and does not overlap ours)."""
    mine = ipaddress.ip_network(my_cidr) if my_cidr else None
    out: dict[str, str] = {}
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
        out[str(net)] = ip
    return out


class HostGwAgent:
    """List + watch Nodes; after each change, make the routes exactly `desired_routes`."""

    def __init__(self, client: Any, network: Any, node_name: str, resync: float = 30.0) -> None:
        self.client, self.network, self.node_name, self.resync = client, network, node_name, resync
        self.stopping = threading.Event()
        self.applied: dict[str, str] | None = None

    def sync(self) -> dict[str, str]:
        nodes = self.client.list("nodes")["items"]
        want = desired_routes(nodes, self.node_name, str(self.network.pod_cidr))
        if want != self.applied:
            self.network.set_peer_routes(want)
            log.info(
                "host-gw routes: %s", ", ".join(f"{c} via {ip}" for c, ip in sorted(want.items())) or "none"
            )
            self.applied = want
        return want

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
