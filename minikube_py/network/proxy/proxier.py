"""The proxier: keep a node namespace's iptables equal to what the Services and Endpoints say.

One sync:
  1. compute the whole desired ruleset (rules.render) from the objects it was given;
  2. diff it, chain by chain, against what the last sync loaded: only changed chains are
     written, chains nobody wants any more are flushed and deleted (-X);
  3. load that text with ONE `iptables-restore --noflush` (atomic per table, and chains the
     text does not name are left alone: other software's and our unchanged ones);
  4. for UDP, forget conntrack entries that still point at removed endpoints (UDP has no
     connection end, so a client would keep talking to a dead pod).
The first sync (and any sync after a failure) is a full one: it reads iptables-save once,
to find stale chains of an earlier run and whether the jumps from built-in chains exist.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from minikube_py.network.proxy import rules
from minikube_py.network.proxy.errors import ProxyError
from minikube_py.network.proxy.iptables import Iptables, detect, in_netns
from minikube_py.network.proxy.lb import LoadBalancerAddresses, LoadBalancerPool
from minikube_py.network.proxy.model import Endpoint, ServicePort, endpoints_for, service_ports
from minikube_py.network.proxy.source import ClusterObjects, SyncLoop

Chains = dict[tuple[str, str], tuple[str, ...]]  # (table, chain) -> rules


@dataclass
class SyncResult:
    full: bool
    restore_text: str
    written: list[str] = field(default_factory=list)  # "table/chain" rewritten
    deleted: list[str] = field(default_factory=list)
    conntrack_cleared: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _flatten(rs: rules.Ruleset) -> Chains:
    return {(t, c): tuple(r) for t, chains in rs.tables().items() for c, r in chains.items()}


def _saved_chains(save_text: str) -> set[str]:
    return {line[1:].split()[0] for line in save_text.splitlines() if line.startswith(":")}


def _has_jump(save_text: str, chain: str, rule: str) -> bool:
    target = rule.rsplit("-j ", 1)[1]
    comment = rule.split('--comment "', 1)[1].split('"', 1)[0]
    return any(line.startswith(f"-A {chain} ") and f"-j {target}" in line and comment in line
               for line in save_text.splitlines())


def restore_text(desired: Chains, loaded: Chains | None,
                 saved: dict[str, str] | None) -> tuple[str, list[str], list[str]]:
    """iptables-restore input turning `loaded` into `desired`.

    loaded=None means "unknown": write every desired chain, delete stale KUBE-SVC/SEP/EXT
    chains found in `saved` (iptables-save text per table) and add missing jump rules.
    """
    written, deleted = [], []
    out = []
    for table in ("nat", "filter"):
        want = {c: r for (t, c), r in desired.items() if t == table}
        if loaded is None:
            have_chains = _saved_chains((saved or {}).get(table, ""))
            changed = list(want)
            stale = sorted(c for c in have_chains
                           if c.startswith(rules.SERVICE_CHAIN_PREFIXES) and c not in want)
        else:
            before = {c: r for (t, c), r in loaded.items() if t == table}
            changed = [c for c, r in want.items() if before.get(c) != r]
            stale = sorted(c for c in before if c not in want)
        jumps = [] if loaded is not None else [
            f"-A {chain} {rule}" for t, chain, rule in rules.JUMPS
            if t == table and not _has_jump((saved or {}).get(table, ""), chain, rule)]
        if not (changed or stale or jumps):
            continue
        out.append(f"*{table}")
        # Declaring a chain creates it or flushes it; stale chains are flushed first so that
        # deleting them cannot fail on a reference from another stale chain.
        out += [f":{c} - [0:0]" for c in [*changed, *stale]]
        out += [f"-A {c} {r}" for c in changed for r in want[c]]
        out += jumps
        out += [f"-X {c}" for c in stale]
        out.append("COMMIT")
        written += [f"{table}/{c}" for c in changed]
        deleted += [f"{table}/{c}" for c in stale]
    return ("\n".join(out) + "\n" if out else ""), written, deleted


class Proxier:
    """kube-proxy (iptables mode) for one node namespace, fed by a ClusterObjects cache."""

    def __init__(self, objects: ClusterObjects, netns: str | None = None, *,
                 cluster_cidr: str | None = None, lb_pool: str | None = None,
                 lb_label: str = "mkpylb", iptables: Iptables | None = None,
                 manage_lb_addresses: bool = True, node_name: str | None = None) -> None:
        self.objects = objects
        self.node_name = node_name  # which endpoints are local, for externalTrafficPolicy: Local
        self.netns = netns
        self.cluster_cidr = cluster_cidr
        self.pool = LoadBalancerPool(lb_pool) if lb_pool else None
        self.lb_addresses = (LoadBalancerAddresses(netns, lb_label)
                             if lb_pool and manage_lb_addresses else None)
        self._iptables = iptables
        self._parse_cache: dict = {}  # id(Service dict) -> (dict, its ServicePorts)
        self._eps_cache: dict = {}  # (id(Endpoints dict), ServicePort) -> (dict, endpoints)
        self._render_cache: dict = {}  # per service port: its rendered rules, reused while unchanged
        self._loaded: Chains | None = None  # what the last successful sync put in the kernel
        self._last_ready: dict[tuple[str, str, str, str], tuple[ServicePort, set[Endpoint]]] = {}
        self._lock = threading.Lock()
        self.errors: list[str] = []  # objects skipped in the last sync, and why

    @property
    def iptables(self) -> Iptables:
        if self._iptables is None:
            self._iptables = detect(self.netns)
        return self._iptables

    # ---------------------------------------------------------------- desired state
    def service_ports(self) -> list[tuple[ServicePort, list[Endpoint]]]:
        """Every proxied service port with its endpoints; bad objects are skipped and noted in .errors."""
        errors: list[str] = []
        parsed: list[tuple[ServicePort, dict | None]] = []
        # Watch events bring new dicts and the cache never changes one in place, so an object that
        # is still the very same dict was parsed already (this keeps a one-service change cheap).
        cache, self._parse_cache = self._parse_cache, {}
        for svc in self.objects.list("Service"):
            hit = cache.get(id(svc))
            if hit is not None and hit[0] is svc:
                ports = hit[1]
            else:
                try:
                    ports = service_ports(svc)
                except ProxyError as exc:
                    errors.append(str(exc))
                    continue
            self._parse_cache[id(svc)] = (svc, ports)
            meta = svc["metadata"]
            eps = self.objects.get("Endpoints", meta.get("namespace") or "default", meta["name"])
            parsed += [(sp, eps) for sp in ports]
        lb_ips = self._assign_load_balancers([sp for sp, _ in parsed], errors)
        out = []
        eps_cache, self._eps_cache = self._eps_cache, {}
        for sp, eps in parsed:
            # Without a pool the addresses in status (set by someone else) are used as they are.
            if self.pool is not None or sp.kind != "LoadBalancer":
                ip = lb_ips.get(sp.service_key)
                sp = dataclasses.replace(sp, lb_ips=(ip,) if ip else ())
            hit = eps_cache.get((id(eps), sp))
            if hit is not None and hit[0] is eps:
                out.append((sp, hit[1]))
                self._eps_cache[(id(eps), sp)] = hit
                continue
            try:
                found = endpoints_for(eps, sp)
            except ProxyError as exc:
                errors.append(str(exc))
                continue
            self._eps_cache[(id(eps), sp)] = (eps, found)
            out.append((sp, found))
        self.errors = errors
        return out

    def _assign_load_balancers(self, ports: list[ServicePort],
                               errors: list[str]) -> dict[tuple[str, str], str]:
        if self.pool is None:
            return {}
        wanted = {sp.service_key: sp for sp in ports if sp.kind == "LoadBalancer"}
        self.pool.release_all_but(set(wanted))
        # Services that asked for an address (or already hold one) choose before the others.
        def asked_first(kv: tuple[tuple[str, str], ServicePort]) -> tuple[bool, tuple[str, str]]:
            return (not (kv[1].requested_lb_ip or kv[1].lb_ips), kv[0])

        for key, sp in sorted(wanted.items(), key=asked_first):
            try:
                self.pool.assign(key, sp.requested_lb_ip, sp.lb_ips)
            except ProxyError as exc:
                errors.append(str(exc))
        return self.pool.assigned()

    def load_balancer_ips(self) -> dict[tuple[str, str], str]:
        """(namespace, name) -> external IP, for status.loadBalancer.ingress (lb.status_patch)."""
        return self.pool.assigned() if self.pool else {}

    # ---------------------------------------------------------------- sync
    def sync(self, full: bool = False) -> SyncResult:
        with self._lock:
            t0 = time.monotonic()
            ports = self.service_ports()
            desired = _flatten(rules.render(ports, self.cluster_cidr, self._render_cache, self.node_name))
            loaded = None if full else self._loaded
            saved = None
            if loaded is None:
                saved = {t: self.iptables.save(t) for t in ("nat", "filter")}
            text, written, deleted = restore_text(desired, loaded, saved)
            if self.lb_addresses is not None:
                self.lb_addresses.sync({ip for sp, _ in ports for ip in sp.lb_ips})
            if text:
                try:
                    self.iptables.restore(text)
                except ProxyError:
                    self._loaded = None  # unknown state: the next sync is a full one
                    raise
            self._loaded = desired
            cleared = self._clear_udp_conntrack(ports)
            return SyncResult(loaded is None, text, written, deleted, cleared, time.monotonic() - t0)

    def _clear_udp_conntrack(self, ports: list[tuple[ServicePort, list[Endpoint]]]) -> list[str]:
        now = {}
        for sp, eps in ports:
            now[(sp.namespace, sp.name, sp.port_name, sp.protocol)] = (sp, {e for e in eps if e.ready})
        cleared = []
        for key, (sp, old) in self._last_ready.items():
            if sp.protocol != "UDP":
                continue
            new = now.get(key, (sp, set()))[1]
            for ep in sorted(old - new):  # entries still DNATed to a gone endpoint
                for ip in (sp.cluster_ip, *sp.lb_ips, *sp.external_ips):
                    cleared += self._conntrack("-p", "udp", "--orig-dst", ip, "--dst-nat", ep.ip)
                if sp.node_port:
                    cleared += self._conntrack("-p", "udp", "--dport", str(sp.node_port), "--dst-nat", ep.ip)
        for key, (sp, new) in now.items():
            if sp.protocol == "UDP" and new and not self._last_ready.get(key, (sp, set()))[1]:
                # Entries made while the service had no endpoint never got DNAT; forget them.
                cleared += self._conntrack("-p", "udp", "--orig-dst", sp.cluster_ip)
        self._last_ready = now
        return cleared

    def _conntrack(self, *args: str) -> list[str]:
        argv = ["conntrack", "-D", *args]
        try:
            proc = subprocess.run(in_netns(self.netns, argv), capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            raise ProxyError("conntrack is not installed (apt-get install conntrack)") from None
        # conntrack exits 1 when nothing matched: that is fine, there was nothing to forget.
        if proc.returncode not in (0, 1):
            raise ProxyError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
        return [" ".join(args)]

    # ---------------------------------------------------------------- teardown
    def teardown(self) -> str:
        """Remove every chain, jump rule and LB address this proxier (or an earlier one) made."""
        with self._lock:
            out = []
            for table in ("nat", "filter"):
                saved = self.iptables.save(table)
                ours = sorted(c for c in _saved_chains(saved) if c.startswith("KUBE-") and
                              (c.startswith(rules.SERVICE_CHAIN_PREFIXES) or
                               c in rules.NAT_BASE + rules.FILTER_BASE))
                jumps = [line for line in saved.splitlines()
                         if line.startswith("-A ") and not line.split()[1].startswith("KUBE-")
                         and line.rsplit(" -j ", 1)[-1].split()[0] in ours]
                if not (ours or jumps):
                    continue
                out.append(f"*{table}")
                out += [f":{c} - [0:0]" for c in ours]
                out += ["-D" + line[2:] for line in jumps]
                out += [f"-X {c}" for c in ours]
                out.append("COMMIT")
            text = "\n".join(out) + "\n" if out else ""
            if text:
                self.iptables.restore(text)
            if self.lb_addresses is not None:
                self.lb_addresses.remove()
            self._loaded = None
            self._last_ready = {}
            return text


class ProxyLoop(SyncLoop):
    """Sync the proxier whenever Services or Endpoints change, until stop().

    after_sync runs after each successful sync, e.g. to write LoadBalancer IPs back to the API:
    ProxyLoop(proxier, after_sync=lambda p: lb.publish_status(client, objects, p.load_balancer_ips()))
    """

    def __init__(self, proxier: Proxier, min_interval: float = 0.05,
                 after_sync: Callable[[Proxier], object] | None = None, full_every: float = 300.0) -> None:
        self.proxier = proxier
        last_full = [time.monotonic()]

        def work() -> None:
            # Now and then a full sync (re-reading iptables-save), as kube-proxy does: it repairs
            # rules someone else flushed, which a change-only sync would never look at.
            full = time.monotonic() - last_full[0] >= full_every
            proxier.sync(full=full)
            if full:
                last_full[0] = time.monotonic()
            if after_sync is not None:
                after_sync(proxier)

        super().__init__(proxier.objects, ("Service", "Endpoints"), work, min_interval, name="mkpy-proxy",
                         period=full_every)
