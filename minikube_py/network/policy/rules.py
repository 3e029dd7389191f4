"""NetworkPolicy -> iptables filter rules for the node namespace (pure: objects in, chains out).

Pods talk through the node's bridge, and with br_netfilter every frame crossing it passes
the filter FORWARD chain, after the service DNAT (so policies see the real pod, not the
ClusterIP). The chains:

  FORWARD -> MKPY-NP-FORWARD
     replies of allowed connections (ctstate ESTABLISHED,RELATED) are accepted at once
     -s <pod with egress policy>  -j MKPY-NP-E-<hash>   (that pod's egress allow-list)
     -d <pod with ingress policy> -j MKPY-NP-I-<hash>   (that pod's ingress allow-list)
  MKPY-NP-I-<hash> / MKPY-NP-E-<hash>
     clear the "allowed" mark; one rule per (peer, port) any policy allows sets it;
     marked -> RETURN (go on to the next check); otherwise DROP.
A pod that no policy selects gets no chain: everything is allowed (Kubernetes' default).
A pod that a policy selects for a direction gets default-deny in it, plus the allows.
An ipBlock with `except` gets its own small chain: excepted sources RETURN unmarked first.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field

from minikube_py.network.policy.errors import PolicyError
from minikube_py.network.policy.selectors import matches

ALLOW_MARK = "0x10000"  # a bit kube-proxy's 0x4000 (masquerade) does not use
TOP = "MKPY-NP-FORWARD"
PREFIX = "MKPY-NP-"
JUMP = ("FORWARD", '-m comment --comment "mkpy network policies" -j MKPY-NP-FORWARD')


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


@dataclass
class PodInfo:
    namespace: str
    name: str
    ip: str
    labels: dict
    ports: dict[str, tuple[str, int]] = field(default_factory=dict)  # named container ports


def pods_of(pods: list[dict]) -> list[PodInfo]:
    out = []
    for p in pods:
        meta, spec, status = p.get("metadata") or {}, p.get("spec") or {}, p.get("status") or {}
        ip = status.get("podIP")
        if not ip or spec.get("hostNetwork"):
            continue  # not on the pod network: nothing to filter
        named = {cp["name"]: (cp.get("protocol", "TCP"), cp["containerPort"])
                 for c in spec.get("containers") or [] for cp in c.get("ports") or [] if cp.get("name")}
        out.append(PodInfo(meta.get("namespace") or "default", meta["name"], ip,
                           meta.get("labels") or {}, named))
    return sorted(out, key=lambda p: (p.namespace, p.name))


def _cidr(value: object, where: str) -> str:
    try:
        return str(ipaddress.IPv4Network(str(value), strict=False))
    except ValueError:
        raise PolicyError(f"{where}: {value!r} is not an IPv4 CIDR") from None


class Renderer:
    def __init__(self, pods: list[dict], namespaces: list[dict], policies: list[dict]) -> None:
        self.pods = pods_of(pods)
        self.ns_labels = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}) for n in namespaces}
        self.policies = sorted(policies, key=lambda p: (p["metadata"].get("namespace") or "default",
                                                        p["metadata"]["name"]))
        self.chains: dict[str, list[str]] = {TOP: []}

    def _ns_labels(self, ns: str) -> dict:
        # The API adds this label to every namespace; objects fed by hand may lack it.
        return {"kubernetes.io/metadata.name": ns, **self.ns_labels.get(ns, {})}

    def render(self) -> dict[str, list[str]]:
        top = self.chains[TOP]
        top.append("-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        for direction, flag in (("Egress", "-s"), ("Ingress", "-d")):
            for pod in self.pods:
                selecting = [p for p in self.policies if self._selects(p, pod, direction)]
                if not selecting:
                    continue
                chain = f"{PREFIX}{direction[0]}-" + _hash(f"{pod.namespace}/{pod.name}")
                top.append(f'-m comment --comment "{pod.namespace}/{pod.name} {direction.lower()}"'
                           f" {flag} {pod.ip}/32 -j {chain}")
                rules = [f"-j MARK --set-xmark 0x0/{ALLOW_MARK}"]
                for pol in selecting:
                    rules += self._allows(pol, pod, direction)
                rules += [f"-m mark --mark {ALLOW_MARK}/{ALLOW_MARK} -j RETURN",
                          '-m comment --comment "default deny" -j DROP']
                self.chains[chain] = rules
        return self.chains

    def _selects(self, pol: dict, pod: PodInfo, direction: str) -> bool:
        meta, spec = pol["metadata"], pol.get("spec") or {}
        if (meta.get("namespace") or "default") != pod.namespace:
            return False
        where = f"NetworkPolicy {pod.namespace}/{meta['name']}: spec"
        if "podSelector" not in spec:
            raise PolicyError(f"{where}.podSelector is required")
        types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
        for t in types:
            if t not in ("Ingress", "Egress"):
                raise PolicyError(f"{where}.policyTypes: {t!r} is not Ingress or Egress")
        return direction in types and matches(spec["podSelector"], pod.labels, f"{where}.podSelector")

    def _allows(self, pol: dict, pod: PodInfo, direction: str) -> list[str]:
        name = f"{pod.namespace}/{pol['metadata']['name']}"
        ingress = direction == "Ingress"
        key, peer_key, flag = ("ingress", "from", "-s") if ingress else ("egress", "to", "-d")
        out = []
        for ri, rule in enumerate((pol.get("spec") or {}).get(key) or []):
            where = f"NetworkPolicy {name}: spec.{key}[{ri}]"
            ports = self._ports(rule.get("ports"), pod if direction == "Ingress" else None, where)
            peers = rule.get(peer_key)
            mark = f"-j MARK --set-xmark {ALLOW_MARK}/{ALLOW_MARK}"
            comment = f'-m comment --comment "{name} {key}[{ri}]"'
            if not peers:  # no peer list: any address
                out += [f"{comment}{p} {mark}" for p in ports]
                continue
            for pi, peer in enumerate(peers):
                pwhere = f"{where}.{peer_key}[{pi}]"
                if "ipBlock" in peer:
                    block = peer["ipBlock"]
                    cidr = _cidr(block.get("cidr"), f"{pwhere}.ipBlock.cidr")
                    excepts = [_cidr(e, f"{pwhere}.ipBlock.except") for e in block.get("except") or []]
                    if not excepts:
                        out += [f"{comment} {flag} {cidr}{p} {mark}" for p in ports]
                        continue
                    sub = f"{PREFIX}B-" + _hash(f"{name}/{direction}/{ri}/{pi}/{pod.namespace}/{pod.name}")
                    self.chains[sub] = [f"{flag} {e} -j RETURN" for e in excepts] + [f"{flag} {cidr} {mark}"]
                    out += [f"{comment}{p} -j {sub}" for p in ports]
                    continue
                for ip in self._peer_pods(peer, pod.namespace, pwhere):
                    out += [f"{comment} {flag} {ip}/32{p} {mark}" for p in ports]
        return out

    def _peer_pods(self, peer: dict, ns: str, where: str) -> list[str]:
        if "podSelector" not in peer and "namespaceSelector" not in peer:
            raise PolicyError(f"{where}: needs podSelector, namespaceSelector or ipBlock")
        ips = []
        for p in self.pods:
            if "namespaceSelector" in peer:
                ns_labels = self._ns_labels(p.namespace)
                if not matches(peer["namespaceSelector"], ns_labels, f"{where}.namespaceSelector"):
                    continue
            elif p.namespace != ns:
                continue
            if "podSelector" in peer and not matches(peer["podSelector"], p.labels, f"{where}.podSelector"):
                continue
            ips.append(p.ip)
        return sorted(set(ips))

    @staticmethod
    def _ports(ports: list | None, target: PodInfo | None, where: str) -> list[str]:
        """Match fragments, one per allowed port (" " when any port is allowed)."""
        if not ports:
            return [""]
        out = []
        for i, p in enumerate(ports):
            proto = p.get("protocol", "TCP")
            if proto not in ("TCP", "UDP", "SCTP"):
                raise PolicyError(f"{where}.ports[{i}].protocol {proto!r} is not TCP, UDP or SCTP")
            port, end = p.get("port"), p.get("endPort")
            if isinstance(port, str):
                named = target.ports.get(port) if target else None
                if not named or named[0] != proto:
                    continue  # a named port the pod does not have: matches nothing
                port = named[1]
            lp = proto.lower()
            if port is None:
                out.append(f" -p {lp}")
            elif end:
                out.append(f" -p {lp} -m {lp} --dport {port}:{end}")
            else:
                out.append(f" -p {lp} -m {lp} --dport {port}")
        return out
