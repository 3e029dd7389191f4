"""Service ClusterIP and NodePort allocation (the apiserver's job, not kube-proxy's).

Kubernetes keeps allocation bitmaps in etcd; we derive "what is used" from the stored
Services each time, under a lock, which is simpler to read and fine at lab scale.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable

from .errors import ApiError, FieldErrors


class Allocator:
    def __init__(self, service_cidr: str = "10.96.0.0/12", node_ports: tuple[int, int] = (30000, 32767)) -> None:
        self.net = ipaddress.ip_network(service_cidr)
        self.node_ports = node_ports

    @property
    def kubernetes_ip(self) -> str:
        """The first address goes to the `kubernetes` Service, as in every cluster."""
        return str(self.net.network_address + 1)

    def assign(self, service: dict, existing: Iterable[dict], old: dict | None = None) -> None:
        """Fill spec.clusterIP(s) and nodePorts in place; 422 if a requested one is taken."""
        spec = service["spec"]
        name = service["metadata"].get("name", "")
        used_ips = {s["spec"].get("clusterIP") for s in existing}
        used_ports = {p.get("nodePort") for s in existing for p in s["spec"].get("ports") or []}
        errs = FieldErrors()
        old_spec = (old or {}).get("spec") or {}
        if spec.get("type") == "ExternalName":
            spec.pop("clusterIP", None)
        elif old_spec.get("clusterIP") and not spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        elif not spec.get("clusterIP"):
            spec["clusterIP"] = self._free_ip(used_ips)
        elif spec["clusterIP"] != "None" and not old_spec.get("clusterIP"):
            ip = ipaddress.ip_address(spec["clusterIP"])
            if ip not in self.net:
                errs.invalid("spec.clusterIP", spec["clusterIP"],
                             f"provided IP is not in the valid range. The range of valid IPs is {self.net}")
            elif spec["clusterIP"] in used_ips:
                errs.invalid("spec.clusterIP", spec["clusterIP"], "provided IP is already allocated")
        if spec.get("clusterIP"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                         for p in old_spec.get("ports") or []}
            for i, p in enumerate(spec.get("ports") or []):
                keep = old_ports.get((p.get("port"), p.get("protocol", "TCP")))
                if p.get("nodePort"):
                    if p["nodePort"] != keep and p["nodePort"] in used_ports:
                        errs.invalid(f"spec.ports[{i}].nodePort", p["nodePort"], "provided port is already allocated")
                elif keep:
                    p["nodePort"] = keep
                else:
                    p["nodePort"] = self._free_port(used_ports)
                used_ports.add(p["nodePort"])
        else:
            for p in spec.get("ports") or []:
                p.pop("nodePort", None)
        errs.raise_if("Service", name)

    def _free_ip(self, used: set) -> str:
        size = self.net.num_addresses
        for _ in range(64):
            ip = str(self.net.network_address + random.randrange(2, size - 1))
            if ip not in used:
                return ip
        for n in range(2, size - 1):  # nearly full: walk it
            ip = str(self.net.network_address + n)
            if ip not in used:
                return ip
        raise ApiError("InternalError", f"failed to allocate a serviceIP: the range {self.net} is full")

    def _free_port(self, used: set) -> int:
        lo, hi = self.node_ports
        free = [p for p in range(lo, hi + 1) if p not in used]
        if not free:
            raise ApiError("InternalError", "failed to allocate a nodePort: the range is full")
        return random.choice(free)

