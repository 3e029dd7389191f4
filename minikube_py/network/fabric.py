"""A "physical" LAN for several nodes on one machine: one more namespace holding a bridge.

    lan = Fabric("mkpy-lan", "192.168.50.0/24").ensure()
    a = NodeNetwork("node-a", "10.244.0.0/24", root_a, cluster_cidr="10.244.0.0/16",
                    uplink=lan.uplink("node-a", 2)).ensure()
    b = NodeNetwork("node-b", "10.244.1.0/24", root_b, cluster_cidr="10.244.0.0/16",
                    uplink=lan.uplink("node-b", 3)).ensure()
    connect_host_gw([a, b])   # each node routes the others' pod CIDRs via their LAN address

The fabric's bridge also carries the LAN's first address (192.168.50.1): the
nodes' default gateway, and the "outside world" a test can listen on to see
that pod traffic leaving the cluster arrives masqueraded as the node's address.
"""

from __future__ import annotations

import errno
import ipaddress

from minikube_py.kernel.syscalls import Syscalls
from minikube_py.network.addressing import check_ifname, gateway_of, parse_cidr, stable_mac
from minikube_py.network.errors import NetworkError
from minikube_py.network.netns import (
    NETNS_DIR,
    create_netns,
    delete_netns,
    is_netns,
    netns_path,
    open_iproute,
)
from minikube_py.network.node import NodeNetwork, Uplink


class Fabric:
    def __init__(
        self,
        name: str,
        cidr: str = "192.168.50.0/24",
        *,
        bridge: str = "lan0",
        netns_dir: str = NETNS_DIR,
        syscalls: Syscalls | None = None,
    ) -> None:
        self.name = name
        self.cidr = parse_cidr(cidr, "cidr")
        self.bridge = check_ifname(bridge, "bridge")
        self.netns_path = netns_path(name, netns_dir)
        self.sc = syscalls or Syscalls()

    @property
    def gateway(self) -> str:
        return str(gateway_of(self.cidr))

    def address(self, host: int) -> str:
        """The LAN address number `host` (2 -> 192.168.50.2/24)."""
        ip = self.cidr.network_address + host
        if ip not in self.cidr or ip in (self.cidr.network_address, self.cidr.broadcast_address):
            raise NetworkError(f"host number {host} is outside {self.cidr}")
        return f"{ip}/{self.cidr.prefixlen}"

    def ensure(self) -> Fabric:
        created = False
        if not is_netns(self.netns_path):
            create_netns(self.netns_path, self.sc)
            created = True
        try:
            with open_iproute(self.netns_path, self.sc) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
                if not ipr.link_lookup(ifname=self.bridge):
                    try:
                        ipr.link(
                            "add",
                            ifname=self.bridge,
                            kind="bridge",
                            address=stable_mac(f"{self.name}/{self.bridge}"),
                        )
                    except Exception as exc:
                        if getattr(exc, "code", None) != errno.EEXIST:
                            raise
                idx = ipr.link_lookup(ifname=self.bridge)[0]
                ipr.link("set", index=idx, state="up")
                if self.gateway not in {a.get("address") for a in ipr.get_addr(index=idx, family=2)}:
                    ipr.addr("add", index=idx, address=self.gateway, prefixlen=self.cidr.prefixlen)
        except BaseException:
            if created:
                self.destroy()
            raise
        return self

    def uplink(self, port_name: str, host: int) -> Uplink:
        """How node number `host` plugs into this LAN (its port here is called `port_name`)."""
        return Uplink(
            peer_netns=self.netns_path,
            address=self.address(host),
            peer_name=port_name,
            gateway=self.gateway,
            peer_bridge=self.bridge,
        )

    def destroy(self) -> None:
        delete_netns(self.netns_path, self.sc)


def connect_host_gw(nodes: list[NodeNetwork]) -> None:
    """host-gw routing (flannel's simplest backend): on one L2 segment, every node reaches
    another node's pods by routing that node's pod CIDR via the node's LAN address."""
    for node in nodes:
        routes = {}
        for other in nodes:
            if other is node:
                continue
            if other.uplink is None:
                raise NetworkError(f"{other.name}: host-gw needs every node to have an uplink")
            routes[str(other.pod_cidr)] = str(ipaddress.IPv4Interface(other.uplink.address).ip)
        node.set_peer_routes(routes)
