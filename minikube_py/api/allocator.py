"""Service ClusterIP and NodePort allocation (the apiserver's job, not kube-proxy's).

Kubernetes keeps allocation bitmaps in etcd; we derive "what is used" from the stored
Services each time, under a lock, which is simpler to read and fine at lab scale.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import random
import time
from collections.abc import Iterable

from .errors import ApiError, FieldErrors
from .storage import Backend, KeyExists, KeyNotFound, RevisionMismatch


class Allocator:
    def __init__(
        self, service_cidr: str = "10.96.0.0/12", node_ports: tuple[int, int] = (30000, 32767)
    ) -> None:
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
                errs.invalid(
                    "spec.clusterIP",
                    spec["clusterIP"],
                    f"provided IP is not in the valid range. The range of valid IPs is {self.net}",
                )
            elif spec["clusterIP"] in used_ips:
                errs.invalid("spec.clusterIP", spec["clusterIP"], "provided IP is already allocated")
        if spec.get("clusterIP"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {
                (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                for p in old_spec.get("ports") or []
            }
            for i, p in enumerate(spec.get("ports") or []):
                keep = old_ports.get((p.get("port"), p.get("protocol", "TCP")))
                if p.get("nodePort"):
                    if p["nodePort"] != keep and p["nodePort"] in used_ports:
                        errs.invalid(
                            f"spec.ports[{i}].nodePort", p["nodePort"], "provided port is already allocated"
                        )
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


class Claims:
    """Makes allocations safe across several API servers sharing one store.

    Picking a free IP from the Services we can see is not enough when two servers pick at
    once. So each allocated IP and NodePort is also *claimed* by creating a key
    (`/registry/ranges/serviceips/10.96.3.4` -> the owning Service's key): the store's
    create-if-absent is atomic, so exactly one Service wins a value. The loser picks again.
    """

    IPS = "/registry/ranges/serviceips/"
    PORTS = "/registry/ranges/servicenodeports/"

    def __init__(self, backend: Backend, allocator: Allocator) -> None:
        self.backend = backend
        self.allocator = allocator

    @classmethod
    def keys_of(cls, service: dict | None) -> set[str]:
        spec = (service or {}).get("spec") or {}
        keys = {f"{cls.PORTS}{p['nodePort']}" for p in spec.get("ports") or [] if p.get("nodePort")}
        if spec.get("clusterIP") not in (None, "", "None"):
            keys.add(f"{cls.IPS}{spec['clusterIP']}")
        return keys

    async def _claim(self, key: str, owner: str) -> str | None:
        """'new' if we took it now, 'mine' if the owner already held it, None if someone else does."""
        try:
            await self.backend.create(key, json.dumps({"owner": owner, "at": time.time()}).encode())
            return "new"
        except KeyExists:
            kv = await self.backend.get(key)
            if kv is not None and json.loads(kv.value).get("owner") == owner:
                return "mine"
            return None

    async def allocate(self, service: dict, existing: list[dict], old: dict | None, owner: str) -> set[str]:
        """assign() then claim everything; returns the keys claimed now (release them on failure)."""
        requested = self.keys_of(service)
        extra: list[dict] = []
        for _attempt in range(32):
            trial = copy.deepcopy(service)
            self.allocator.assign(trial, existing + extra, old)
            newly: set[str] = set()
            clash = None
            for key in sorted(self.keys_of(trial)):
                got = await self._claim(key, owner)
                if got is None:
                    clash = key
                    break
                if got == "new":
                    newly.add(key)
            if clash is None:
                service["spec"] = trial["spec"]
                return newly
            await self.release(newly, owner)
            if clash in requested:
                errs = FieldErrors()
                what = "IP" if clash.startswith(self.IPS) else "port"
                field = "spec.clusterIP" if what == "IP" else "spec.ports.nodePort"
                errs.invalid(field, clash.rsplit("/", 1)[1], f"provided {what} is already allocated")
                errs.raise_if("Service", service["metadata"].get("name", ""))
            # Someone else took what we picked: count it as used and pick again.
            value = clash.rsplit("/", 1)[1]
            extra.append(
                {
                    "spec": {"clusterIP": value}
                    if clash.startswith(self.IPS)
                    else {"ports": [{"nodePort": int(value)}]}
                }
            )
        raise ApiError("InternalError", "could not allocate a service IP or node port: too much contention")

    async def release(self, keys: set[str], owner: str) -> None:
        for key in keys:
            kv = await self.backend.get(key)
            if kv is not None and json.loads(kv.value).get("owner") == owner:
                try:
                    await self.backend.delete(key, kv.mod_revision)
                except (KeyNotFound, RevisionMismatch):
                    pass

    async def repair(self, grace_seconds: float = 60.0) -> int:
        """Free claims whose Service never got written (a server died in between)."""
        freed = 0
        for prefix in (self.IPS, self.PORTS):
            kvs, _, _ = await self.backend.list(prefix)
            for kv in kvs:
                claim = json.loads(kv.value)
                if time.time() - claim.get("at", 0) < grace_seconds:
                    continue
                if await self.backend.get(claim.get("owner", "")) is None:
                    try:
                        await self.backend.delete(kv.key, kv.mod_revision)
                        freed += 1
                    except (KeyNotFound, RevisionMismatch):
                        pass
        return freed
