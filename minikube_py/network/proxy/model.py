"""Services and Endpoints, as the proxy needs them: one ServicePort per (service, port).

kube-proxy works per *service port*, not per Service: `myapp:http` and `myapp:metrics`
get separate chains. The input is the API's plain dicts; everything the proxy does not
need is dropped here, and a malformed object raises ProxyError naming the field.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from minikube_py.network.proxy.errors import ProxyError

PROTOCOLS = ("TCP", "UDP", "SCTP")
NODE_PORT_RANGE = range(30000, 32768)
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds, Kubernetes' default for sessionAffinity ClientIP


@dataclass(frozen=True, order=True)
class Endpoint:
    ip: str
    port: int
    ready: bool = True
    node: str | None = None  # the node the pod runs on (Endpoints addresses[].nodeName)

    def __str__(self) -> str:  # "10.244.0.5:3000", the form kube-proxy hashes
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ServicePort:
    namespace: str
    name: str
    port_name: str  # "" for a single unnamed port
    protocol: str  # TCP | UDP | SCTP
    cluster_ip: str
    port: int
    node_port: int | None = None
    kind: str = "ClusterIP"  # ClusterIP | NodePort | LoadBalancer
    external_ips: tuple[str, ...] = ()
    affinity_timeout: int | None = None  # set when sessionAffinity is ClientIP
    external_local: bool = False  # externalTrafficPolicy: Local (keep the client's address)
    source_ranges: tuple[str, ...] = ()  # loadBalancerSourceRanges: who may use the LB IP
    requested_lb_ip: str | None = None  # spec.loadBalancerIP, honoured by the allocator
    lb_ips: tuple[str, ...] = field(default=(), compare=False)  # filled in by the proxier

    @property
    def service_key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def __str__(self) -> str:
        """kube-proxy's ServicePortName: "ns/name:port" ("ns/name" when the port has no name)."""
        return f"{self.namespace}/{self.name}" + (f":{self.port_name}" if self.port_name else "")


def _field(obj: dict, path: str, what: str) -> object:
    cur: object = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise ProxyError(f"{what}: missing field {path}")
        cur = cur[part]
    return cur


def _ip(value: object, where: str) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise ProxyError(f"{where}: {value!r} is not an IPv4 address") from None


def _port(value: object, where: str, allowed: range = range(1, 65536)) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value not in allowed:
        raise ProxyError(f"{where}: {value!r} is not a port in {allowed.start}-{allowed.stop - 1}")
    return value


def object_key(obj: dict, kind: str) -> tuple[str, str]:
    name = _field(obj, "metadata.name", kind)
    return (str(obj["metadata"].get("namespace") or "default"), str(name))


def service_ports(svc: dict) -> list[ServicePort]:
    """The proxied ports of one Service; [] for headless and ExternalName services."""
    ns, name = object_key(svc, "Service")
    what = f"Service {ns}/{name}"
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        raise ProxyError(f"{what}: spec.type {kind!r} is not ClusterIP, NodePort, LoadBalancer"
                         " or ExternalName")
    cluster_ip = spec.get("clusterIP")
    if kind == "ExternalName" or cluster_ip in (None, "", "None"):
        return []  # DNS-only services: nothing to proxy
    cluster_ip = _ip(cluster_ip, f"{what}: spec.clusterIP")
    external_ips = tuple(_ip(ip, f"{what}: spec.externalIPs") for ip in spec.get("externalIPs") or [])
    affinity = None
    if spec.get("sessionAffinity", "None") == "ClientIP":
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        affinity = int(cfg.get("timeoutSeconds", DEFAULT_AFFINITY_TIMEOUT))
    elif spec.get("sessionAffinity", "None") != "None":
        raise ProxyError(f"{what}: spec.sessionAffinity {spec['sessionAffinity']!r} is not None or ClientIP")
    policy = spec.get("externalTrafficPolicy") or "Cluster"
    if policy not in ("Cluster", "Local"):
        raise ProxyError(f"{what}: spec.externalTrafficPolicy {policy!r} is not Cluster or Local")
    ranges = []
    for i, r in enumerate(spec.get("loadBalancerSourceRanges") or []):
        try:
            ranges.append(str(ipaddress.IPv4Network(str(r).strip(), strict=False)))
        except ValueError:
            raise ProxyError(f"{what}: spec.loadBalancerSourceRanges[{i}] {r!r}"
                             " is not an IPv4 CIDR") from None
    requested = spec.get("loadBalancerIP")
    lb_status = [i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                 if i.get("ip")]
    ports = spec.get("ports") or []
    if not ports:
        raise ProxyError(f"{what}: spec.ports is empty")
    out = []
    for i, p in enumerate(ports):
        where = f"{what}: spec.ports[{i}]"
        protocol = p.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            raise ProxyError(f"{where}.protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        node_port = None
        if kind in ("NodePort", "LoadBalancer") and p.get("nodePort") is not None:
            node_port = _port(p["nodePort"], f"{where}.nodePort", NODE_PORT_RANGE)
        out.append(ServicePort(
            namespace=ns, name=name, port_name=str(p.get("name") or ""), protocol=protocol,
            cluster_ip=cluster_ip, port=_port(p.get("port"), f"{where}.port"), node_port=node_port,
            kind=kind, external_ips=external_ips, affinity_timeout=affinity,
            external_local=policy == "Local" and kind in ("NodePort", "LoadBalancer"),
            source_ranges=tuple(ranges) if kind == "LoadBalancer" else (),
            requested_lb_ip=_ip(requested, f"{what}: spec.loadBalancerIP") if requested else None,
            lb_ips=tuple(_ip(ip, f"{what}: status.loadBalancer.ingress") for ip in lb_status),
        ))
    if len({(sp.port_name, sp.protocol) for sp in out}) != len(out):
        raise ProxyError(f"{what}: spec.ports has two ports with the same name and protocol")
    return out


def endpoints_for(endpoints: dict | None, sp: ServicePort) -> list[Endpoint]:
    """The endpoints (ready and not) of one service port, matched by port name as kube-proxy does."""
    if not endpoints:
        return []
    found: set[Endpoint] = set()
    for si, subset in enumerate(endpoints.get("subsets") or []):
        for port in subset.get("ports") or []:
            if str(port.get("name") or "") != sp.port_name or port.get("protocol", "TCP") != sp.protocol:
                continue
            number = _port(port.get("port"), f"Endpoints {sp.namespace}/{sp.name}: subsets[{si}].ports")
            for key, ready in (("addresses", True), ("notReadyAddresses", False)):
                for addr in subset.get(key) or []:
                    ip = _ip(addr.get("ip"), f"Endpoints {sp.namespace}/{sp.name}: subsets[{si}].{key}")
                    found.add(Endpoint(ip, number, ready, addr.get("nodeName")))
    return sorted(found)
