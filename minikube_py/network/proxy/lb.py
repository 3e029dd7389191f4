"""LoadBalancer services on bare metal: hand out external IPs from a pool and make them answer.

A cloud gives a LoadBalancer service an address on its load balancer. A lab has none, so,
like MetalLB's layer-2 mode or k3s' klipper-lb, the node takes the address itself: the
pool is a range on the node's own network, the chosen IP is put on the loopback interface
of the node namespace (so the node answers ARP for it), and KUBE-SERVICES DNATs traffic to it
like any other service address. The IP is what `status.loadBalancer.ingress[0].ip` reports.
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

from minikube_py.network.proxy.errors import ProxyError
from minikube_py.network.proxy.netns import run_in_netns

DEFAULT_LABEL = "mkpylb"


def parse_pool(spec: str) -> list[str]:
    """'192.168.77.200-192.168.77.210' or '192.168.77.240/28' -> the usable addresses, in order."""
    try:
        if "-" in spec:
            first, last = (ipaddress.IPv4Address(s.strip()) for s in spec.split("-", 1))
            if last < first:
                raise ValueError("range ends before it starts")
            return [str(ipaddress.IPv4Address(i)) for i in range(int(first), int(last) + 1)]
        net = ipaddress.IPv4Network(spec.strip(), strict=False)
        return [str(ip) for ip in (net.hosts() if net.prefixlen < 31 else net)]
    except ValueError as exc:
        raise ProxyError(f"load balancer pool {spec!r}: {exc}") from None


class LoadBalancerPool:
    """Sticky assignment of pool addresses to services (namespace, name)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.addresses = parse_pool(spec)
        self._by_service: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def assign(self, service: tuple[str, str], requested: str | None = None,
               current: tuple[str, ...] = ()) -> str:
        """The service's IP: what it has, else what it asked for (spec.loadBalancerIP), else a free one."""
        with self._lock:
            if service in self._by_service:
                return self._by_service[service]
            taken = set(self._by_service.values())
            wanted = [ip for ip in (requested, *current) if ip]
            for ip in wanted:
                if ip in self.addresses and ip not in taken:
                    self._by_service[service] = ip
                    return ip
            if requested:
                raise ProxyError(f"Service {service[0]}/{service[1]}: spec.loadBalancerIP {requested}"
                                 f" is not free in the pool {self.spec}")
            for ip in self.addresses:
                if ip not in taken:
                    self._by_service[service] = ip
                    return ip
        raise ProxyError(f"Service {service[0]}/{service[1]}: load balancer pool {self.spec} is exhausted")

    def release_all_but(self, services: set[tuple[str, str]]) -> None:
        with self._lock:
            for key in [k for k in self._by_service if k not in services]:
                del self._by_service[key]

    def assigned(self) -> dict[tuple[str, str], str]:
        with self._lock:
            return dict(self._by_service)


def status_patch(ip: str | None) -> dict:
    """The Service status the API should hold for this assignment (for `kubectl get svc` EXTERNAL-IP)."""
    return {"status": {"loadBalancer": {"ingress": [{"ip": ip}] if ip else []}}}


class LoadBalancerAddresses:
    """Keeps exactly the wanted /32s on the node namespace's loopback (pyroute2, no `ip`).

    Linux answers ARP for any local address on any interface (arp_ignore=0), so an
    address on `lo` is enough for neighbours on the node's network to send us its
    traffic. Our addresses carry a label (lo:<label>), so they are told apart from others.
    """

    def __init__(self, netns: str | None, label: str = DEFAULT_LABEL) -> None:
        self.netns = netns
        self.label = f"lo:{label}"[:15]  # IFA_LABEL: the link name, a colon, at most 15 bytes

    def _apply(self, ips: set[str]) -> None:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname="lo")[0]
            ipr.link("set", index=idx, state="up")
            have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx, family=2)
                    if a.get_attr("IFA_LABEL") == self.label}
            for ip in have - ips:
                ipr.addr("del", index=idx, address=ip, prefixlen=32)
            for ip in ips - have:
                ipr.addr("add", index=idx, address=ip, prefixlen=32, label=self.label)

    def sync(self, ips: set[str]) -> None:
        run_in_netns(self.netns, lambda: self._apply(ips))

    def remove(self) -> None:
        run_in_netns(self.netns, lambda: self._apply(set()))


def publish_status(client: Any, objects: Any, assigned: dict[tuple[str, str], str]) -> list[str]:
    """Write each LoadBalancer's IP into its Service's status through the API (PATCH .../status).

    `client` is the API client (anything with patch(resource, name, body, namespace,
    subresource=)); `objects` the ClusterObjects the proxier reads, to skip what is already right.
    Returns "ns/name=ip" for each status written.
    """
    written = []
    for (ns, name), ip in sorted(assigned.items()):
        svc = objects.get("Service", ns, name)
        if svc is None:
            continue
        lb = (svc.get("status") or {}).get("loadBalancer") or {}
        have = [i.get("ip") for i in lb.get("ingress") or []]
        if have == [ip]:
            continue
        client.patch("services", name, status_patch(ip), ns, subresource="status")
        written.append(f"{ns}/{name}={ip}")
    return written
