"""Which answer a cluster name gets: the Kubernetes DNS specification, read from live objects.

Names under the cluster domain (default cluster.local):
  <svc>.<ns>.svc.<domain>                 A: the ClusterIP; headless: every ready endpoint IP
  <hostname>.<svc>.<ns>.svc.<domain>      A: that endpoint of a headless service
  _<port>._<proto>.<svc>.<ns>.svc.<domain> SRV: the port, target <svc>.<ns>.svc.<domain>
  <svc>.<ns>.svc.<domain> (SRV)           SRV for every named port
  <a-b-c-d>.<ns>.pod.<domain>             A: a.b.c.d (like CoreDNS' "pods insecure")
  ExternalName services                   CNAME to spec.externalName
Anything else under the domain is NXDOMAIN; names outside it go upstream (None here).
Every lookup reads the objects as they are now, so answers follow changes at once.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from minikube_py.network.proxy.source import ClusterObjects

TTL = 5  # seconds; short, as CoreDNS' kubernetes plugin: service changes should show quickly


@dataclass
class Answer:
    rcode: str = "NOERROR"  # NOERROR | NXDOMAIN
    a: list[str] = field(default_factory=list)
    srv: list[tuple[int, int, int, str]] = field(default_factory=list)  # priority, weight, port, target
    cname: str | None = None


def _ready_addresses(endpoints: dict | None) -> list[dict]:
    return [a for s in (endpoints or {}).get("subsets") or [] for a in s.get("addresses") or []]


class ClusterRecords:
    def __init__(self, objects: ClusterObjects, domain: str = "cluster.local") -> None:
        self.objects = objects
        self.domain = domain.strip(".").lower()

    def lookup(self, qname: str, qtype: str) -> Answer | None:
        """The answer for one question, or None when the name is not ours (forward it)."""
        name = qname.strip(".").lower()
        if name != self.domain and not name.endswith("." + self.domain):
            return None
        labels = name[: -len(self.domain)].strip(".").split(".") if name != self.domain else []
        if len(labels) >= 3 and labels[-1] == "svc":
            return self._service(labels[:-1], qtype)
        if len(labels) == 3 and labels[-1] == "pod":
            return self._pod(labels[0], qtype)
        if labels in ([], ["svc"]) or (len(labels) == 2 and labels[-1] == "svc"):
            return Answer()  # existing zones/namespaces without records of this type: NODATA
        return Answer("NXDOMAIN")

    def _service(self, labels: list[str], qtype: str) -> Answer:
        *prefix, svc_name, ns = labels
        svc = self.objects.get("Service", ns, svc_name)
        if svc is None:
            return Answer("NXDOMAIN")
        spec = svc.get("spec") or {}
        fqdn = f"{svc_name}.{ns}.svc.{self.domain}"
        eps = self.objects.get("Endpoints", ns, svc_name)
        headless = spec.get("clusterIP") in (None, "", "None")
        if spec.get("type") == "ExternalName":
            if prefix:
                return Answer("NXDOMAIN")
            return Answer(cname=spec.get("externalName", "").rstrip(".") + ".")
        if len(prefix) == 2 and prefix[0].startswith("_") and prefix[1].startswith("_"):
            port = next((p for p in spec.get("ports") or [] if p.get("name") == prefix[0][1:]
                         and p.get("protocol", "TCP").lower() == prefix[1][1:]), None)
            if port is None:
                return Answer("NXDOMAIN")
            if qtype not in ("SRV", "ANY"):
                return Answer()
            return Answer(srv=self._srv_targets(fqdn, port, headless, eps))
        if len(prefix) == 1 and headless:  # one endpoint of a headless service, by hostname
            hits = [a["ip"] for a in _ready_addresses(eps)
                    if prefix[0] in (a.get("hostname"), a["ip"].replace(".", "-"))]
            if not hits:
                return Answer("NXDOMAIN")
            return Answer(a=hits) if qtype in ("A", "ANY") else Answer()
        if prefix:
            return Answer("NXDOMAIN")
        if qtype == "SRV":
            return Answer(srv=[s for p in spec.get("ports") or [] if p.get("name")
                               for s in self._srv_targets(fqdn, p, headless, eps)])
        if qtype not in ("A", "ANY"):
            return Answer()
        if headless:
            return Answer(a=sorted({a["ip"] for a in _ready_addresses(eps)}))
        return Answer(a=[spec["clusterIP"]])

    def _srv_targets(self, fqdn: str, port: dict, headless: bool, eps: dict | None) -> list:
        if not headless:
            return [(0, 100, int(port["port"]), fqdn + ".")]
        out = []
        for a in _ready_addresses(eps):
            host = a.get("hostname") or a["ip"].replace(".", "-")
            out.append((0, 100, int(port.get("targetPort") if isinstance(port.get("targetPort"), int)
                                    else port["port"]), f"{host}.{fqdn}."))
        return out

    def _pod(self, dashed: str, qtype: str) -> Answer:
        try:
            ip = str(ipaddress.IPv4Address(dashed.replace("-", ".")))
        except ValueError:
            return Answer("NXDOMAIN")
        return Answer(a=[ip]) if qtype in ("A", "ANY") else Answer()
