"""Node IPAM: give every node its own slice of the pod network (kube-controller-manager's
range allocator, --allocate-node-cidrs --cluster-cidr 10.244.0.0/16 --node-cidr-mask-size 24).

Each node gets the lowest free /24 of the cluster CIDR in node.spec.podCIDR (and podCIDRs).
Its kubelet and CNI then hand out pod IPs from that /24, and the other nodes route the /24
to it (host-gw: "10.244.1.0/24 via <node's IP>"), so pod IPs never collide between nodes.
A CIDR is free again once its node is deleted. The set of used CIDRs is rebuilt from the
node cache on every sync, plus what this loop handed out and its cache has not shown yet.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from minikube_py.k8s.meta import name_of, split_key

from .client import is_not_found
from .framework import Controller

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class NodeIpamController(Controller):
    name = "node-ipam-controller"

    def __init__(
        self, *args: Any, cluster_cidr: str = "10.244.0.0/16", node_cidr_mask: int = 24, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        try:
            self.cluster = ipaddress.ip_network(cluster_cidr)
        except ValueError as e:
            raise ValueError(f"cluster_cidr: {e}") from None
        if not self.cluster.prefixlen <= node_cidr_mask <= self.cluster.max_prefixlen:
            raise ValueError(
                f"node_cidr_mask: /{node_cidr_mask} does not fit inside cluster_cidr {cluster_cidr}"
            )
        self.mask = node_cidr_mask
        # node -> CIDR we assigned but may not have seen in the cache yet
        self.pending: dict[str, str] = {}
        self.node_informer = self.informers.informer("nodes")
        self.node_informer.add_handler(
            lambda n: self.enqueue(name_of(n)), lambda o, n: self.enqueue(name_of(n)), self._deleted
        )

    def _deleted(self, node: Obj) -> None:
        # Releasing is implicit (the node leaves the cache); forget our note of it too.
        released = self.pending.pop(name_of(node), None) or (node.get("spec") or {}).get("podCIDR")
        if released:
            log.info("node-ipam: released %s of node %s", released, name_of(node))

    def used(self) -> dict[str, str]:
        """CIDR -> node, from every node in the cache plus our pending assignments."""
        out: dict[str, str] = {}
        for n in self.node_informer.list():
            cidr = (n.get("spec") or {}).get("podCIDR")
            if cidr:
                out[str(ipaddress.ip_network(cidr, strict=False))] = name_of(n)
        for node, cidr in self.pending.items():
            out.setdefault(cidr, node)
        return out

    def next_free(self) -> str | None:
        used = self.used()
        for subnet in self.cluster.subnets(new_prefix=self.mask):
            if str(subnet) not in used:
                return str(subnet)
        return None

    def sync(self, key: str) -> float | None:
        _, name = split_key(key)
        node = self.node_informer.get(name)
        if node is None:
            self.pending.pop(name, None)
            return None
        have = (node.get("spec") or {}).get("podCIDR")
        if have:
            self.pending.pop(name, None)
            return None
        cidr = self.pending.get(name) or self.next_free()
        if cidr is None:
            self.recorder.event(
                node, "Warning", "CIDRNotAvailable", f"no free /{self.mask} left in {self.cluster}"
            )
            return 30.0
        self.pending[name] = cidr
        try:
            self.client.patch("nodes", name, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except Exception as exc:
            if is_not_found(exc):
                self.pending.pop(name, None)
                return None
            raise
        self.recorder.event(node, "Normal", "CIDRAssigned", f"Node {name} got pod CIDR {cidr}")
        log.info("node-ipam: %s -> %s", name, cidr)
        return None
