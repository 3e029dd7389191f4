"""VXLAN between nodes, flannel's `vxlan` backend: pod packets wrapped in UDP to the other node.

host-gw (routes.py) hands a pod packet to the other node's LAN address, so both nodes must share
one L2 segment. When a router sits between them, the router knows nothing of 10.244.x.0/24;
VXLAN hides the pod packet inside a UDP datagram between the two nodes' own addresses, which any
router forwards:

    [ outer IP node A -> node B | UDP :8472 | VXLAN VNI 1 | inner Ethernet | pod A IP -> pod B IP ]
      20 bytes                    8 bytes    8 bytes       14 bytes

so the device's MTU is 1500 - 50 = 1450. Each node has one vxlan device `mkpy.1` (VNI 1,
UDP 8472 like flannel, learning off) whose address is its pod CIDR's network address (the VTEP
IP, 10.244.1.0/32) and whose MAC (the VTEP MAC) is published on its Node object. For every other
node, three kernel entries, all kept by the route agent (multinode/routes.py) in the node's netns:

    route  10.244.2.0/24 via 10.244.2.0 dev mkpy.1 onlink   which packets go in the tunnel
    neigh  10.244.2.0 lladdr <B's VTEP MAC> PERMANENT       the inner Ethernet header
    fdb    <B's VTEP MAC> dst <B's node IP> self permanent  where the outer UDP packet goes

With learning off and every entry written from the API, nothing is flooded or guessed.
"""

from __future__ import annotations

import errno
import ipaddress
from dataclasses import dataclass

from minikube_py.kernel.syscalls import Syscalls
from minikube_py.network.addressing import check_ifname
from minikube_py.network.errors import NetworkError
from minikube_py.network.netns import open_iproute

DEVICE = "mkpy.1"  # like flannel's flannel.1: <name>.<VNI>
VNI = 1
PORT = 8472  # flannel's (and Linux's historical) VXLAN port; IANA's is 4789
OVERHEAD = 50  # outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
NUD_PERMANENT = 0x80
RTNH_F_ONLINK = 4
AF_BRIDGE = 7


@dataclass(frozen=True)
class Peer:
    """Another node as the tunnel sees it."""

    vtep_ip: str  # its pod CIDR's network address (10.244.2.0)
    vtep_mac: str  # its vxlan device's MAC (from its Node annotation)
    node_ip: str  # its underlay address: where the UDP packets go


def vtep_ip(pod_cidr: str) -> str:
    """The VTEP address of a node: its pod CIDR's network address, as flannel uses."""
    return str(ipaddress.ip_network(pod_cidr, strict=False).network_address)


class Vxlan:
    """The vxlan device of one node, in the node's netns (None: the machine's own, a lab VM)."""

    def __init__(
        self,
        netns_path: str | None,
        local_ip: str,
        pod_cidr: str,
        *,
        device: str = DEVICE,
        underlay_mtu: int = 1500,
        syscalls: Syscalls | None = None,
    ) -> None:
        self.netns_path = netns_path
        try:
            self.local_ip = str(ipaddress.IPv4Address(local_ip))
        except ValueError:
            raise NetworkError(f"local_ip: {local_ip!r} is not an IPv4 address") from None
        self.pod_cidr = str(ipaddress.ip_network(pod_cidr, strict=False))
        self.device = check_ifname(device, "device")
        self.mtu = underlay_mtu - OVERHEAD
        self.sc = syscalls or Syscalls()

    def ensure(self) -> str:
        """Create (or keep) the device, up, with the VTEP IP; return its MAC (the VTEP MAC)."""
        with open_iproute(self.netns_path, self.sc) as ipr:
            if not ipr.link_lookup(ifname=self.device):
                try:
                    ipr.link(
                        "add",
                        ifname=self.device,
                        kind="vxlan",
                        vxlan_id=VNI,
                        vxlan_port=PORT,
                        vxlan_local=self.local_ip,
                        vxlan_learning=0,  # every neighbour and fdb entry comes from the API
                        mtu=self.mtu,
                    )
                except Exception as exc:  # noqa: BLE001 - pyroute2's NetlinkError; EEXIST: a race, fine
                    if getattr(exc, "code", None) != errno.EEXIST:
                        raise NetworkError(f"create vxlan device {self.device}: {exc}") from None
            idx = ipr.link_lookup(ifname=self.device)[0]
            have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx, family=2)}
            mine = vtep_ip(self.pod_cidr)
            if mine not in have:
                ipr.addr("add", index=idx, address=mine, prefixlen=32)
            ipr.link("set", index=idx, state="up")
            return ipr.get_links(idx)[0].get_attr("IFLA_ADDRESS")

    def index(self, ipr) -> int | None:
        found = ipr.link_lookup(ifname=self.device)
        return found[0] if found else None

    def set_peers(self, ipr, peers: dict[str, Peer], proto: int) -> None:
        """Routes, neighbours and fdb entries for exactly `peers` ({pod CIDR: Peer}); the routes
        carry `proto` so the caller's stale-route sweep (NodeNetwork.set_peer_routes) owns them."""
        idx = self.index(ipr)
        if idx is None:
            if peers:
                raise NetworkError(f"vxlan device {self.device} is missing: ensure() it first")
            return
        want_fdb = {p.vtep_mac.lower(): p.node_ip for p in peers.values()}
        # the fdb first (a vxlan device refuses "replace" there: delete what is wrong, then append)
        for f in self.fdb_entries(ipr):
            if want_fdb.get(f["lladdr"]) != f["dst"]:
                ipr.fdb("del", ifindex=idx, lladdr=f["lladdr"], dst=f["dst"])
        have_fdb = {(f["lladdr"], f["dst"]) for f in self.fdb_entries(ipr)}
        for mac, node_ip in want_fdb.items():
            if (mac, node_ip) not in have_fdb:
                ipr.fdb("append", ifindex=idx, lladdr=mac, dst=node_ip)
        for cidr, p in peers.items():
            ipr.neigh("replace", ifindex=idx, dst=p.vtep_ip, lladdr=p.vtep_mac, state=NUD_PERMANENT)
            ipr.route("replace", dst=cidr, gateway=p.vtep_ip, oif=idx, flags=RTNH_F_ONLINK, proto=proto)
        want_neigh = {p.vtep_ip for p in peers.values()}
        for n in ipr.get_neighbours(family=2, ifindex=idx):
            dst = n.get_attr("NDA_DST")
            if dst not in want_neigh and n["state"] & NUD_PERMANENT:
                ipr.neigh("del", ifindex=idx, dst=dst)

    def fdb_entries(self, ipr) -> list[dict[str, str]]:
        """The device's unicast fdb entries: [{"lladdr": mac, "dst": node ip}]."""
        idx = self.index(ipr)
        out = []
        for f in ipr.get_neighbours(family=AF_BRIDGE, ifindex=idx) if idx is not None else []:
            mac, dst = f.get_attr("NDA_LLADDR"), f.get_attr("NDA_DST")
            if f["ifindex"] == idx and mac and dst and mac != "00:00:00:00:00:00":
                out.append({"lladdr": mac.lower(), "dst": dst})
        return out

    def destroy(self) -> None:
        """Remove the device; the kernel drops its routes, neighbours and fdb entries with it."""
        with open_iproute(self.netns_path, self.sc) as ipr:
            for idx in ipr.link_lookup(ifname=self.device):
                ipr.link("del", index=idx)
