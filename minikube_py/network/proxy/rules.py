"""The desired iptables ruleset, computed from service ports and their endpoints.

This is kube-proxy's iptables mode, chain for chain. A packet to a ClusterIP walks:

  nat PREROUTING (from a pod) or OUTPUT (from the node)
   -> KUBE-SERVICES       one rule per service port: "-d CLUSTER-IP --dport PORT -j KUBE-SVC-…"
   -> KUBE-SVC-<hash>     pick an endpoint: statistic random 1/n, 1/(n-1), …, last unconditional
   -> KUBE-SEP-<hash>     DNAT to POD-IP:TARGET-PORT (and mark hairpin traffic for masquerade)
  nat POSTROUTING
   -> KUBE-POSTROUTING    MASQUERADE what carries the 0x4000 mark

NodePorts and LoadBalancer IPs enter through KUBE-NODEPORTS / KUBE-EXT-<hash>, which mark
the packet for masquerade (the reply must come back through this node) and then jump to
the same KUBE-SVC chain. A service port with no ready endpoint gets no nat chain at all:
its address is REJECTed in the filter table, so a client fails fast instead of hanging.

Nothing here runs a command: render() returns chains as lists of rule strings, so unit
tests can read them and the proxier can diff them against what it loaded last time.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from minikube_py.network.proxy.model import Endpoint, ServicePort

MASQ_MARK = "0x4000"

# Chains the proxier owns outright (created, flushed and rewritten by it).
NAT_BASE = ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-MARK-MASQ", "KUBE-POSTROUTING")
FILTER_BASE = ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD")
# Per-service chains, recognised by prefix when deleting stale ones.
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-FW-")

# Rules the proxier adds to the built-in chains: (table, chain, rule). They are appended once
# and found again by their comment, never rewritten (other software owns those chains too).
JUMPS = (
    ("nat", "PREROUTING", '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
    ("nat", "OUTPUT", '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
    ("nat", "POSTROUTING", '-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING'),
    ("filter", "INPUT", '-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible'
                        ' service portals" -j KUBE-EXTERNAL-SERVICES'),
    ("filter", "FORWARD", '-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals"'
                          ' -j KUBE-SERVICES'),
    ("filter", "FORWARD", '-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible'
                          ' service portals" -j KUBE-EXTERNAL-SERVICES'),
    ("filter", "FORWARD", '-m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'),
    ("filter", "OUTPUT", '-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals"'
                         ' -j KUBE-SERVICES'),
)


def _hash16(text: str) -> str:
    """kube-proxy's chain suffix: the first 16 chars of base32(sha256(text))."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def svc_chain(sp: ServicePort) -> str:
    return "KUBE-SVC-" + _hash16(str(sp) + sp.protocol.lower())


def svl_chain(sp: ServicePort) -> str:
    """The "local endpoints only" chain of an externalTrafficPolicy: Local service."""
    return "KUBE-SVL-" + _hash16(str(sp) + sp.protocol.lower())


def fw_chain(sp: ServicePort) -> str:
    """The loadBalancerSourceRanges check in front of KUBE-EXT for the LoadBalancer IP."""
    return "KUBE-FW-" + _hash16(str(sp) + sp.protocol.lower())


def ext_chain(sp: ServicePort) -> str:
    return "KUBE-EXT-" + _hash16(str(sp) + sp.protocol.lower())


def sep_chain(sp: ServicePort, ep: Endpoint) -> str:
    return "KUBE-SEP-" + _hash16(str(sp) + sp.protocol.lower() + str(ep))


def _comment(text: str) -> str:
    return f'-m comment --comment "{text}"'


def _proto(sp: ServicePort) -> str:
    p = sp.protocol.lower()
    return f"-p {p} -m {p}"


@dataclass
class Ruleset:
    """Chains per table, each an ordered list of rule specs (what follows `-A CHAIN`)."""

    nat: dict[str, list[str]] = field(default_factory=dict)
    filter: dict[str, list[str]] = field(default_factory=dict)

    def tables(self) -> dict[str, dict[str, list[str]]]:
        return {"nat": self.nat, "filter": self.filter}

    def text(self) -> str:
        """The whole ruleset in iptables-save format (what a full sync loads)."""
        out = []
        for table, chains in self.tables().items():
            out.append(f"*{table}")
            out += [f":{c} - [0:0]" for c in chains]
            out += [f"-A {c} {r}" for c, rules in chains.items() for r in rules]
            out.append("COMMIT")
        return "\n".join(out) + "\n"


def _balance(sp: ServicePort, seps: list[tuple[Endpoint, str]]) -> list[str]:
    """Pick one endpoint chain: affinity first (if any), then 1/n, 1/(n-1), ..., the last unconditional."""
    rules = []
    if sp.affinity_timeout is not None:
        # A client seen recently (by source IP) goes back to the endpoint it used last.
        rules += [_comment(f"{sp} -> {ep}") + f" -m recent --name {chain} --rcheck"
                  f" --seconds {sp.affinity_timeout} --reap -j {chain}" for ep, chain in seps]
    n = len(seps)
    for i, (ep, chain) in enumerate(seps):
        pick = "" if i == n - 1 else f" -m statistic --mode random --probability {1.0 / (n - i):.10f}"
        rules.append(_comment(f"{sp} -> {ep}") + f"{pick} -j {chain}")
    return rules


def _service_fragment(sp: ServicePort, endpoints: tuple[Endpoint, ...],
                      cluster_cidr: str | None, node_name: str | None = None) -> Ruleset:
    """The rules one service port contributes (to its own chains and to the shared ones)."""
    frag = Ruleset(nat={"KUBE-SERVICES": [], "KUBE-NODEPORTS": []},
                   filter={"KUBE-SERVICES": [], "KUBE-EXTERNAL-SERVICES": []})
    nat, flt = frag.nat, frag.filter
    ready = [ep for ep in endpoints if ep.ready]
    proto = _proto(sp)
    external = [*sp.lb_ips, *sp.external_ips]
    if not ready:
        # No nat chain: REJECT in filter so the client gets "connection refused" at once.
        why = _comment(f"{sp} has no endpoints")
        reject = "-j REJECT --reject-with icmp-port-unreachable"
        flt["KUBE-SERVICES"].append(f"{why} {proto} -d {sp.cluster_ip}/32 --dport {sp.port} {reject}")
        for ip in external:
            flt["KUBE-EXTERNAL-SERVICES"].append(f"{why} {proto} -d {ip}/32 --dport {sp.port} {reject}")
        if sp.node_port:
            flt["KUBE-EXTERNAL-SERVICES"].append(f"{why} -m addrtype --dst-type LOCAL {proto}"
                                                 f" --dport {sp.node_port} {reject}")
        return frag

    svc, ext = svc_chain(sp), ext_chain(sp)
    nat["KUBE-SERVICES"].append(_comment(f"{sp} cluster IP") +
                                f" {proto} -d {sp.cluster_ip}/32 --dport {sp.port} -j {svc}")
    lb_target = fw_chain(sp) if sp.source_ranges and sp.lb_ips else ext
    for ip in sp.lb_ips:
        nat["KUBE-SERVICES"].append(_comment(f"{sp} loadbalancer IP") +
                                    f" {proto} -d {ip}/32 --dport {sp.port} -j {lb_target}")
    if lb_target != ext:
        # loadBalancerSourceRanges: allowed sources go on to KUBE-EXT and get DNATed; the others
        # stay addressed to the LB IP, and filter drops exactly those.
        nat[lb_target] = [_comment(f"{sp} loadbalancer IP") + f" -s {r} -j {ext}" for r in sp.source_ranges]
        why = _comment(f"{sp} traffic not accepted by {lb_target}")
        flt["KUBE-EXTERNAL-SERVICES"] += [f"{why} {proto} -d {ip}/32 --dport {sp.port} -j DROP"
                                          for ip in sp.lb_ips]
    for ip in sp.external_ips:
        nat["KUBE-SERVICES"].append(_comment(f"{sp} external IP") +
                                    f" {proto} -d {ip}/32 --dport {sp.port} -j {ext}")
    if sp.node_port:
        nat["KUBE-NODEPORTS"].append(_comment(str(sp)) + f" {proto} --dport {sp.node_port} -j {ext}")
    seps = [(ep, sep_chain(sp, ep)) for ep in ready]
    if (sp.node_port or external) and not sp.external_local:
        # Traffic from outside: masquerade, so the endpoint's reply comes back here to be un-DNATed.
        nat[ext] = [_comment(f"masquerade traffic for {sp} external destinations") + " -j KUBE-MARK-MASQ",
                    f"-j {svc}"]
    elif sp.node_port or external:
        # externalTrafficPolicy: Local: outside clients go only to endpoints on this node and are
        # NOT masqueraded, so the pod sees the client's real address (the reply still passes here:
        # the pod's default route is this node). Pods and the node itself take the cluster path.
        svl = svl_chain(sp)
        local = [(ep, chain) for ep, chain in seps if node_name is None or ep.node in (None, node_name)]
        nat[ext] = ([_comment(f"pod traffic for {sp} external destinations") + f" -s {cluster_cidr} -j {svc}"]
                    if cluster_cidr else [])
        nat[ext] += [
            _comment(f"masquerade LOCAL traffic for {sp} external destinations")
            + " -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
            _comment(f"route LOCAL traffic for {sp} external destinations")
            + f" -m addrtype --src-type LOCAL -j {svc}",
        ]
        if local:
            nat[ext].append(f"-j {svl}")
            nat[svl] = _balance(sp, local)
        else:
            # Nothing to send outside clients to: no DNAT, and filter drops them on arrival.
            why = _comment(f"{sp} has no local endpoints")
            flt["KUBE-EXTERNAL-SERVICES"] += [f"{why} {proto} -d {ip}/32 --dport {sp.port} -j DROP"
                                              for ip in external]
            if sp.node_port:
                flt["KUBE-EXTERNAL-SERVICES"].append(f"{why} -m addrtype --dst-type LOCAL {proto}"
                                                     f" --dport {sp.node_port} -j DROP")

    rules = []
    if cluster_cidr:
        # ClusterIP traffic from outside the pod network (e.g. the node itself) is masqueraded too.
        rules.append(_comment(f"{sp} cluster IP") + f" {proto} -d {sp.cluster_ip}/32 --dport {sp.port}"
                     f" ! -s {cluster_cidr} -j KUBE-MARK-MASQ")
    nat[svc] = rules + _balance(sp, seps)

    for ep, chain in seps:
        remember = f" -m recent --name {chain} --set" if sp.affinity_timeout is not None else ""
        nat[chain] = [
            # Hairpin: a pod reaching itself through the service must see the reply come from
            # the service, so its own traffic is masqueraded (to the bridge address).
            _comment(str(sp)) + f" -s {ep.ip}/32 -j KUBE-MARK-MASQ",
            _comment(str(sp)) + f"{remember} {proto} -j DNAT --to-destination {ep}",
        ]
    return frag


def render(ports: list[tuple[ServicePort, list[Endpoint]]], cluster_cidr: str | None = None,
           cache: dict | None = None, node_name: str | None = None) -> Ruleset:
    """The full desired ruleset for these service ports (endpoints include unready ones; they are skipped).

    `cache` (a dict the caller keeps between calls) saves re-rendering service ports that did
    not change: with 1000 services a one-service change then costs little Python.
    `node_name` decides which endpoints are local (externalTrafficPolicy: Local); None: all are.
    """
    new_cache: dict | None = {} if cache is not None else None
    rs = Ruleset()
    nat, flt = rs.nat, rs.filter
    for c in NAT_BASE:
        nat[c] = []
    for c in FILTER_BASE:
        flt[c] = []

    nat["KUBE-MARK-MASQ"] = [f"-j MARK --or-mark {MASQ_MARK}"]
    nat["KUBE-POSTROUTING"] = [
        f"-m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
        # Clear the mark so a packet re-entering the stack (e.g. over a tunnel) is not masqueraded twice.
        f"-j MARK --xor-mark {MASQ_MARK}",
        _comment("kubernetes service traffic requiring SNAT") + " -j MASQUERADE",
    ]
    flt["KUBE-FORWARD"] = [
        "-m conntrack --ctstate INVALID -j DROP",
        _comment("kubernetes forwarding rules") + f" -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
        _comment("kubernetes forwarding conntrack rule")
        + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]

    for sp, endpoints in sorted(ports, key=lambda pe: (str(pe[0]), pe[0].protocol)):
        key = (sp, sp.lb_ips, tuple(endpoints))  # lb_ips is not part of ServicePort equality
        frag = cache.get(key) if cache is not None else None
        if frag is None:
            frag = _service_fragment(sp, tuple(endpoints), cluster_cidr, node_name)
        if new_cache is not None:
            new_cache[key] = frag
        for table, chains in ((nat, frag.nat), (flt, frag.filter)):
            for chain, rules in chains.items():
                table.setdefault(chain, []).extend(rules)
    if cache is not None and new_cache is not None:
        cache.clear()
        cache.update(new_cache)  # keep only what this sync used
    nat["KUBE-SERVICES"].append(
        _comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
        + " -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    return rs
