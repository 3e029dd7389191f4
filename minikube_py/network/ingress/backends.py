"""From an Ingress backend (Service name + port) to the address the proxy connects to.

We connect to the Service's ClusterIP and port, not to a pod: kube-proxy's iptables rules in the
node namespace DNAT that connection to one ready endpoint (docs/services.md), so the ingress
controller reuses the cluster's load balancing instead of keeping its own endpoint list.
(ingress-nginx connects to the endpoints directly, to do its own balancing and keep-alive.)
We still read the Endpoints: with no ready endpoint the right answer is 503, at once, instead of
the connection refused kube-proxy's REJECT rule would give.
"""

from __future__ import annotations

from dataclasses import dataclass

from minikube_py.network.ingress.routing import Backend


class Unavailable(Exception):
    """The backend exists in the Ingress but cannot take the request now (HTTP 503)."""


@dataclass(frozen=True)
class Target:
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


def resolve(backend: Backend, service: dict | None, endpoints: dict | None) -> Target:
    """The ClusterIP:port for `backend`, or Unavailable saying why not."""
    if service is None:
        raise Unavailable(f"service {backend.namespace}/{backend.service} not found")
    spec = service.get("spec") or {}
    ip = spec.get("clusterIP")
    if not ip or ip == "None":
        raise Unavailable(f"service {backend.namespace}/{backend.service} has no cluster IP (headless)")
    ports = spec.get("ports") or []
    if isinstance(backend.port, int):
        svc_port = next((p for p in ports if p.get("port") == backend.port), None)
    else:
        svc_port = next((p for p in ports if p.get("name") == backend.port), None)
    if svc_port is None:
        raise Unavailable(f"service {backend.namespace}/{backend.service} has no port {backend.port}")
    # An endpoint subset serves this service port when it has a port of the same name ("" for an
    # unnamed single port), the way the endpoints controller writes them.
    want = svc_port.get("name") or ""
    ready = any(
        s.get("addresses") and any((p.get("name") or "") == want for p in s.get("ports") or [])
        for s in (endpoints or {}).get("subsets") or []
    )
    if not ready:
        raise Unavailable(f"service {backend.namespace}/{backend.service} has no ready endpoints")
    return Target(ip, int(svc_port["port"]))
