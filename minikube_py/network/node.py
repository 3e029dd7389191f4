"""A node's network: its own network namespace holding the pod bridge, forwarding and masquerade.

    node = NodeNetwork("mkpy-node", "10.244.0.0/24", "/var/lib/mkpy/network/mkpy-node").ensure()
    ...                      # pods get veths on node.bridge (the CNI plugin does that)
    node.destroy()

Like a kind node, everything a node does to networking happens inside the node
namespace (/run/netns/<name>): the bridge `mkpy0` with the pod CIDR's first
address as the pods' gateway, ip_forward, br_netfilter (so bridged pod traffic
meets iptables, which service hairpin needs), masquerade for pod traffic leaving
the cluster, and an optional uplink veth to another namespace that plays the
outside world (or a "physical" LAN joining several nodes; see fabric.py).
`host_network=True` does the same in the caller's own namespace instead, for a
VM dedicated to the lab; nothing touches the host's namespace otherwise.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minikube_py.kernel.syscalls import Syscalls
from minikube_py.network import netfilter
from minikube_py.network.addressing import check_ifname, gateway_of, parse_cidr, stable_mac
from minikube_py.network.errors import NetworkError
from minikube_py.network.netns import (
    NETNS_DIR,
    create_netns,
    delete_netns,
    is_netns,
    netns_path,
    open_iproute,
    write_sysctl,
)

RTPROT_MKPY = 109  # marks the pod-CIDR routes this module owns, so a resync can find stale ones
POSTROUTING_CHAIN = "MKPY-POSTROUTING"
FORWARD_CHAIN = "MKPY-FORWARD"


@dataclass
class Uplink:
    """A veth from the node namespace (`name`, default eth0) to another namespace."""

    peer_netns: str  # path of the namespace at the other end
    address: str  # node side, with prefix: "192.168.50.2/24"
    peer_name: str  # the other end's name inside peer_netns
    gateway: str | None = None  # the node's default route ("192.168.50.1")
    peer_bridge: str | None = None  # plug the other end into this bridge over there...
    peer_address: str | None = None  # ...or give it this address (with prefix)
    name: str = "eth0"

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]


class NodeNetwork:
    def __init__(
        self,
        name: str,
        pod_cidr: str,
        state_root: str | os.PathLike,
        host_network: bool = False,
        *,
        cluster_cidr: str | None = None,
        bridge: str = "mkpy0",
        netns_dir: str = NETNS_DIR,
        uplink: Uplink | None = None,
        mtu: int = 1500,
        syscalls: Syscalls | None = None,
    ) -> None:
        self.name = name
        self.pod_cidr = parse_cidr(pod_cidr, "pod_cidr")
        # Pod traffic to anywhere in the cluster keeps its source address; beyond it, it is masqueraded.
        self.cluster_cidr = parse_cidr(cluster_cidr or pod_cidr, "cluster_cidr", max_prefix=30)
        if not self.pod_cidr.subnet_of(self.cluster_cidr):
            raise NetworkError(f"pod_cidr {pod_cidr} is not inside cluster_cidr {cluster_cidr}")
        self.bridge = check_ifname(bridge, "bridge")
        if not isinstance(mtu, int) or not 576 <= mtu <= 65535:
            raise NetworkError(f"mtu: {mtu!r} is not an MTU between 576 and 65535")
        self.mtu = mtu
        self.host_network = host_network
        self.netns_path: str | None = None if host_network else netns_path(name, netns_dir)
        self.state_root = Path(state_root)
        self.uplink = uplink
        if uplink is not None:
            check_ifname(uplink.name, "uplink.name")
            check_ifname(uplink.peer_name, "uplink.peer_name")
            ipaddress.IPv4Interface(uplink.address)
        self.sc = syscalls or Syscalls()

    # ------------------------------------------------------------------ facts
    @property
    def gateway(self) -> str:
        """The pods' default gateway: the bridge's address (10.244.0.1 for 10.244.0.0/24)."""
        return str(gateway_of(self.pod_cidr))

    @property
    def cni_dir(self) -> Path:
        return self.state_root / "cni"

    def __repr__(self) -> str:
        where = "host namespace" if self.host_network else self.netns_path
        return f"NodeNetwork({self.name!r}, {self.pod_cidr}, {where})"

    # ------------------------------------------------------------------ ensure
    def ensure(self) -> NodeNetwork:
        """Create whatever is missing; safe to call again (e.g. after an agent restart)."""
        created = False
        if self.netns_path and not is_netns(self.netns_path):
            create_netns(self.netns_path, self.sc)
            created = True
        try:
            with open_iproute(self.netns_path, self.sc) as ipr:
                if not self.host_network:
                    ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
                self._ensure_bridge(ipr)
                self._ensure_sysctls()
                if self.uplink:
                    self._ensure_uplink(ipr)
            self._ensure_rules()
            self.cni_dir.mkdir(parents=True, exist_ok=True)
        except BaseException:
            if created:  # nothing half-applied: a namespace we just made goes again
                self.destroy()
            raise
        return self

    def _ensure_bridge(self, ipr) -> None:
        idx = ipr.link_lookup(ifname=self.bridge)
        if not idx:
            try:
                ipr.link(
                    "add", ifname=self.bridge, kind="bridge", address=stable_mac(f"{self.name}/{self.bridge}")
                )
            except Exception as exc:  # a concurrent ensure() won the race: fine
                if getattr(exc, "code", None) != errno.EEXIST:
                    raise
            idx = ipr.link_lookup(ifname=self.bridge)
        ipr.link("set", index=idx[0], state="up", mtu=self.mtu)
        have = {a.get("address") for a in ipr.get_addr(index=idx[0], family=2)}
        if self.gateway not in have:
            ipr.addr("add", index=idx[0], address=self.gateway, prefixlen=self.pod_cidr.prefixlen)

    def _ensure_sysctls(self) -> None:
        write_sysctl(self.netns_path, "net.ipv4.ip_forward", "1", self.sc)
        key = "net.bridge.bridge-nf-call-iptables"
        if not os.path.exists("/proc/sys/net/bridge"):
            # br_netfilter makes bridged (pod-to-pod on one node) traffic pass iptables.
            subprocess.run(["modprobe", "br_netfilter"], capture_output=True)
            if not os.path.exists("/proc/sys/net/bridge"):
                raise NetworkError("the br_netfilter kernel module is missing (modprobe br_netfilter)")
        write_sysctl(self.netns_path, key, "1", self.sc)

    def _ensure_uplink(self, ipr) -> None:
        up = self.uplink
        assert up is not None
        if not ipr.link_lookup(ifname=up.name):
            peer_fd = os.open(up.peer_netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                # Created from inside the node namespace with the peer born in the other one:
                # at no moment does either end exist in the host's namespace.
                ipr.link(
                    "add",
                    ifname=up.name,
                    kind="veth",
                    mtu=self.mtu,
                    peer={"ifname": up.peer_name, "net_ns_fd": peer_fd, "mtu": self.mtu},
                )
            finally:
                os.close(peer_fd)
        idx = ipr.link_lookup(ifname=up.name)[0]
        ipr.link("set", index=idx, state="up")
        iface = ipaddress.IPv4Interface(up.address)
        if str(iface.ip) not in {a.get("address") for a in ipr.get_addr(index=idx, family=2)}:
            ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        if up.gateway:
            ipr.route("replace", dst="0.0.0.0/0", gateway=up.gateway, oif=idx)
        with open_iproute(up.peer_netns, self.sc) as far:
            pidx = far.link_lookup(ifname=up.peer_name)[0]
            if up.peer_bridge:
                bidx = far.link_lookup(ifname=up.peer_bridge)
                if not bidx:
                    raise NetworkError(f"uplink.peer_bridge {up.peer_bridge!r} not found in {up.peer_netns}")
                far.link("set", index=pidx, master=bidx[0])
            if up.peer_address:
                pif = ipaddress.IPv4Interface(up.peer_address)
                if str(pif.ip) not in {a.get("address") for a in far.get_addr(index=pidx, family=2)}:
                    far.addr("add", index=pidx, address=str(pif.ip), prefixlen=pif.network.prefixlen)
            far.link("set", index=pidx, state="up")

    def masquerade_rules(self, have_postrouting_jump: bool, have_forward_jump: bool) -> str:
        """The node's rules in iptables-save form. Declaring a chain with --noflush empties it,
        so reloading is idempotent; the jumps from the built-in chains are added only once."""
        pod, cluster = self.pod_cidr, self.cluster_cidr
        lines = ["*nat", f":{POSTROUTING_CHAIN} - [0:0]"]
        if not have_postrouting_jump:
            lines.append(
                f'-A POSTROUTING -m comment --comment "mkpy: pod traffic leaving the cluster"'
                f" -j {POSTROUTING_CHAIN}"
            )
        lines += [
            f"-A {POSTROUTING_CHAIN} -s {pod} -d {cluster} -j RETURN",
            f"-A {POSTROUTING_CHAIN} -s {pod} ! -d 224.0.0.0/4 -j MASQUERADE",
            "COMMIT",
            "*filter",
            f":{FORWARD_CHAIN} - [0:0]",
        ]
        if not have_forward_jump:
            lines.append(f'-A FORWARD -m comment --comment "mkpy: forward pod traffic" -j {FORWARD_CHAIN}')
        lines += [
            f"-A {FORWARD_CHAIN} -s {pod} -j ACCEPT",
            f"-A {FORWARD_CHAIN} -d {pod} -j ACCEPT",
            "COMMIT",
            "",
        ]
        return "\n".join(lines)

    def _ensure_rules(self) -> None:
        nat = netfilter.save(self.netns_path, "nat")
        flt = netfilter.save(self.netns_path, "filter")
        netfilter.restore(
            self.netns_path,
            self.masquerade_rules(
                _has_jump(nat, "POSTROUTING", POSTROUTING_CHAIN), _has_jump(flt, "FORWARD", FORWARD_CHAIN)
            ),
        )

    # ------------------------------------------------------------------ routes
    def set_peer_routes(
        self, routes: dict[str, str], tunnel: tuple[Any, dict[str, Any]] | None = None
    ) -> None:
        """Make the routes to other nodes' pod CIDRs exactly these: host-gw `routes` ({cidr: node
        ip}) and, through `tunnel` = (vxlan.Vxlan, {cidr: vxlan.Peer}), the VXLAN ones."""
        want = {
            str(parse_cidr(dst, "routes key")): str(ipaddress.IPv4Address(via)) for dst, via in routes.items()
        }
        vx, peers = tunnel or (None, {})
        peers = {str(parse_cidr(dst, "tunnel key")): p for dst, p in peers.items()}
        if set(want) & set(peers):
            raise NetworkError(f"routes: {sorted(set(want) & set(peers))} both via host-gw and via vxlan")
        with open_iproute(self.netns_path, self.sc) as ipr:
            for dst, via in want.items():
                ipr.route("replace", dst=dst, gateway=via, proto=RTPROT_MKPY)
            if vx is not None:
                vx.set_peers(ipr, peers, RTPROT_MKPY)
            for r in ipr.get_routes(family=2, table=254):
                if r.get("proto") != RTPROT_MKPY:
                    continue
                dst = f"{r.get('dst')}/{r.get('dst_len')}"
                if dst not in want and dst not in peers:
                    ipr.route("del", dst=dst, proto=RTPROT_MKPY)

    def on_link(self, ip: str) -> bool:
        """True when `ip` is on one of the node's own L2 segments: the kernel's route to it has
        no gateway (and is not the VXLAN tunnel). host-gw can reach exactly those nodes."""
        with open_iproute(self.netns_path, self.sc) as ipr:
            try:
                r = ipr.route("get", dst=str(ipaddress.IPv4Address(ip)))[0]
            except Exception:  # noqa: BLE001 - unreachable: certainly not on-link
                return False
            oif = r.get_attr("RTA_OIF")
            if r.get_attr("RTA_GATEWAY") is not None or r["type"] != 1 or oif is None:  # 1: RTN_UNICAST
                return False
            info = ipr.get_links(oif)[0].get_attr("IFLA_LINKINFO")
            return not (info and info.get_attr("IFLA_INFO_KIND") == "vxlan")

    # ------------------------------------------------------------------ teardown
    def destroy(self) -> None:
        """Remove everything ensure() made. Missing pieces are fine."""
        if self.host_network:
            self._destroy_in_place()
        else:
            assert self.netns_path is not None
            if is_netns(self.netns_path) and self.uplink:
                # Delete the uplink now: left to namespace teardown, its far end would vanish
                # from the peer namespace only later, asynchronously.
                with open_iproute(self.netns_path, self.sc) as ipr:
                    for idx in ipr.link_lookup(ifname=self.uplink.name):
                        ipr.link("del", index=idx)
            delete_netns(self.netns_path, self.sc)
        shutil.rmtree(self.cni_dir, ignore_errors=True)

    def _destroy_in_place(self) -> None:
        with open_iproute(None, self.sc) as ipr:
            for idx in ipr.link_lookup(ifname=self.bridge):
                ipr.link("del", index=idx)
            if self.uplink:
                for idx in ipr.link_lookup(ifname=self.uplink.name):
                    ipr.link("del", index=idx)
        for table, builtin, chain in (
            ("nat", "POSTROUTING", POSTROUTING_CHAIN),
            ("filter", "FORWARD", FORWARD_CHAIN),
        ):
            for line in netfilter.save(None, table).splitlines():
                if line.startswith(f"-A {builtin} ") and line.endswith(f"-j {chain}"):
                    netfilter.run(None, "-t", table, "-D", *_split_rule(line[3:]))
            netfilter.run(None, "-t", table, "-F", chain, check=False)
            netfilter.run(None, "-t", table, "-X", chain, check=False)

    # ------------------------------------------------------------------ CNI
    def cni_path(self) -> list[str]:
        """Where plugins are looked up: our own executables first, then the usual CNI dirs."""
        return [str(self.cni_dir / "bin"), "/usr/lib/cni", "/opt/cni/bin"]

    def conflist(self, flavour: str = "mkpy") -> dict:
        """A CNI network config list for this node: "mkpy" (mkpy-cni + mkpy-ipam) or "debian"
        (containernetworking-plugins: bridge + host-local + portmap + loopback)."""
        ranges = [[{"subnet": str(self.pod_cidr), "gateway": self.gateway}]]
        if flavour == "mkpy":
            plugins = [
                {
                    "type": "mkpy-cni",
                    "bridge": self.bridge,
                    "isGateway": True,
                    "isDefaultGateway": True,
                    "hairpinMode": True,
                    "mtu": self.mtu,
                    "ipam": {
                        "type": "mkpy-ipam",
                        "ranges": ranges,
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.cni_dir / "ipam"),
                    },
                }
            ]
        elif flavour == "debian":
            plugins = [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": True,
                    "isDefaultGateway": True,
                    "hairpinMode": True,
                    "ipMasq": False,
                    "mtu": self.mtu,
                    "ipam": {"type": "host-local", "ranges": ranges, "dataDir": str(self.cni_dir / "ipam")},
                },
                {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
                {"type": "loopback"},
            ]
        else:
            raise NetworkError(f"flavour: {flavour!r} is not 'mkpy' or 'debian'")
        return {"cniVersion": "1.0.0", "name": f"mkpy-{flavour}", "plugins": plugins}

    def write_conflist(self, flavour: str = "mkpy") -> Path:
        """Write the conflist (<state>/cni/net.d) and our plugin executables (<state>/cni/bin)."""
        from minikube_py.network.cni import install_executables

        install_executables(self.cni_dir / "bin")
        path = self.cni_dir / "net.d" / f"10-mkpy-{flavour}.conflist"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.conflist(flavour), indent=2) + "\n")
        return path

    def cni(
        self,
        conflist: dict | str | os.PathLike,
        command: str,
        container_id: str,
        pod_netns: str,
        ifname: str = "eth0",
        **kwargs,
    ) -> dict:
        """Run a CNI plugin chain for a pod of this node, inside the node namespace."""
        from minikube_py.network import cni

        kwargs.setdefault("cache_dir", str(self.cni_dir / "cache"))
        kwargs.setdefault("cni_path", self.cni_path())
        return cni.invoke(conflist, command, container_id, pod_netns, ifname, netns=self.netns_path, **kwargs)


def _has_jump(saved: str, builtin: str, chain: str) -> bool:
    return any(
        line.startswith(f"-A {builtin} ") and line.rstrip().endswith(f"-j {chain}")
        for line in saved.splitlines()
    )


def _split_rule(rule: str) -> list[str]:
    import shlex

    return shlex.split(rule)
