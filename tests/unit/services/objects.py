"""Builders for the plain-dict objects the API returns (only the fields that matter here)."""

from __future__ import annotations


def service(name: str, cluster_ip: str, port: int = 80, *, ns: str = "default", type_: str = "ClusterIP",
            port_name: str = "http", protocol: str = "TCP", node_port: int | None = None,
            affinity: bool = False, **spec: object) -> dict:
    p: dict = {"name": port_name, "port": port, "protocol": protocol, "targetPort": 3000}
    if node_port:
        p["nodePort"] = node_port
    s: dict = {"type": type_, "clusterIP": cluster_ip, "ports": [p], **spec}
    if affinity:
        s["sessionAffinity"] = "ClientIP"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": s}


def endpoints(name: str, ready: list[str], not_ready: list[str] = (), *, ns: str = "default",
              port: int = 3000, port_name: str = "http", protocol: str = "TCP") -> dict:
    subset: dict = {"ports": [{"name": port_name, "port": port, "protocol": protocol}]}
    if ready:
        subset["addresses"] = [{"ip": ip} for ip in ready]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns},
            "subsets": [subset] if (ready or not_ready) else []}
