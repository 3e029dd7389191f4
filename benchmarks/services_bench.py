"""Service proxy sync: one iptables-restore vs one `iptables` call per rule, measured in one run.

    sudo /opt/mkpy/venv/bin/python benchmarks/services_bench.py [--services 1000] [--naive 100]
         [--backend nft|legacy] [--repeat 3]

Works in a throwaway network namespace (mkpyt-svc-bench-*), never the host's. Prints:
  * full sync of N services x 3 endpoints with the proxier (one iptables-save + one restore);
  * a one-service change after that (only that service's chains are written), and the same
    change made naively (single iptables calls) on a table of the same size;
  * the naive way (create every chain and append every rule with its own `iptables` process)
    for --naive services, extrapolated linearly to N and labelled so. Linear is generous to
    the naive way: each call re-reads and re-writes the table, so it gets slower as it grows.
Reference: kube-proxy's published iptables-mode figure is ~1.3 s per sync at 1000 services.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minikube_py.network.proxy import ClusterObjects, Proxier
from minikube_py.network.proxy.iptables import Iptables, detect
from minikube_py.network.proxy.model import endpoints_for, service_ports
from minikube_py.network.proxy.rules import render


def objects_for(n: int) -> ClusterObjects:
    objects = ClusterObjects()
    for i in range(n):
        name = f"svc-{i}"
        objects.apply("Service", {"metadata": {"name": name, "namespace": "bench"},
                                  "spec": {"clusterIP": f"10.96.{i // 250}.{i % 250 + 1}",
                                           "ports": [{"name": "http", "port": 80}]}})
        objects.apply("Endpoints", endpoints(name, i, 0))
    return objects


def endpoints(name: str, i: int, gen: int) -> dict:
    base = 3 * i + gen
    ips = [f"10.{128 + (base + k) // 65536 % 64}.{(base + k) // 256 % 256}.{(base + k) % 256}"
           for k in range(3)]
    return {"metadata": {"name": name, "namespace": "bench"},
            "subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "http", "port": 3000}]}]}


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def naive_sync(ipt: Iptables, objects: ClusterObjects) -> int:
    """Build the same ruleset the way a shell script would: one iptables process per chain and rule."""
    ports = [(sp, endpoints_for(objects.get("Endpoints", sp.namespace, sp.name), sp))
             for svc in objects.list("Service") for sp in service_ports(svc)]
    calls = 0
    for table, chains in render(ports).tables().items():
        for chain in chains:
            ipt.run("-t", table, "-N", chain)
            calls += 1
        for chain, rules in chains.items():
            for rule in rules:
                ipt.run("-t", table, "-A", chain, *split(rule))
                calls += 1
    return calls


def naive_change(ipt: Iptables, objects: ClusterObjects, before: dict) -> int:
    """Re-write one service the naive way: flush its chains, create new SEP chains, append, delete old."""
    ports = [(sp, endpoints_for(objects.get("Endpoints", sp.namespace, sp.name), sp))
             for svc in objects.list("Service") for sp in service_ports(svc)]
    after = render(ports).nat
    calls = 0
    changed = [c for c in after if before.get(c) != after[c]]
    for c in changed:
        ipt.run("-t", "nat", "-N" if c not in before else "-F", c)
        calls += 1
    for c in changed:
        for rule in after[c]:
            ipt.run("-t", "nat", "-A", c, *split(rule))
            calls += 1
    for c in [c for c in before if c not in after]:
        ipt.run("-t", "nat", "-F", c)
        ipt.run("-t", "nat", "-X", c)
        calls += 2
    return calls


def split(rule: str) -> list[str]:
    import shlex

    return shlex.split(rule)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--naive", type=int, default=100, help="services for the naive run (extrapolated)")
    ap.add_argument("--backend", choices=["nft", "legacy"], default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (it makes a network namespace)")

    names = []

    def netns() -> str:
        name = f"mkpyt-svc-bench-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        names.append(name)
        return f"/run/netns/{name}"

    try:
        ns = netns()
        ipt = Iptables(args.backend, ns) if args.backend else detect(ns)
        n = args.services
        objects = objects_for(n)
        lines = render([(sp, endpoints_for(objects.get("Endpoints", sp.namespace, sp.name), sp))
                        for s in objects.list("Service") for sp in service_ports(s)]).text().count("\n-A")
        full, change = [], []
        for r in range(args.repeat):
            proxier = Proxier(objects, ns, iptables=ipt)
            full.append(timed(lambda p=proxier: p.sync(full=True)))
            objects.apply("Endpoints", endpoints("svc-7", 7, r + 1))
            t0 = time.perf_counter()
            result = proxier.sync()
            change.append(time.perf_counter() - t0)
            written = len(result.written)
            proxier.teardown()
            objects.apply("Endpoints", endpoints("svc-7", 7, 0))

        m = args.naive
        ns2 = netns()
        nipt = Iptables(ipt.backend, ns2)
        small = objects_for(m)
        calls = []
        naive_full = timed(lambda: calls.append(naive_sync(nipt, small)))
        # The naive one-service change on a table of the full size: load the N services with the
        # proxier (quickly), then change one service with single iptables calls.
        ns3 = netns()
        big = objects_for(n)
        Proxier(big, ns3, iptables=Iptables(ipt.backend, ns3)).sync()
        big_before = render([(sp, endpoints_for(big.get("Endpoints", sp.namespace, sp.name), sp))
                             for s in big.list("Service") for sp in service_ports(s)]).nat
        big.apply("Endpoints", endpoints("svc-7", 7, 1))
        naive_one = timed(lambda: calls.append(naive_change(Iptables(ipt.backend, ns3), big, big_before)))
        naive_per_call = naive_full / calls[0]
        naive_full_n = naive_full * n / m

        f, c = statistics.median(full), statistics.median(change)
        print(f"backend: iptables-{ipt.backend}   services: {n} x 3 endpoints   rules: {lines}")
        rep = f"(median of {args.repeat})"
        print(f"proxier full sync (1 save + 1 restore)      : {f * 1000:8.1f} ms   {rep}")
        print(f"proxier one-service change ({written} chains)     : {c * 1000:8.1f} ms   {rep}")
        print(f"naive full sync, {m} services, measured      : {naive_full * 1000:8.1f} ms"
              f"   ({calls[0]} iptables calls, {naive_per_call * 1000:.1f} ms each)")
        print(f"naive full sync, {n} services, EXTRAPOLATED : {naive_full_n * 1000:8.1f} ms"
              f"   (x{n / m:g} linear; the real cost grows faster)")
        print(f"naive one-service change at {n}, measured  : {naive_one * 1000:8.1f} ms"
              f"   ({calls[1]} calls)")
        print(f"ratio full sync   naive(extrapolated)/proxier : {naive_full_n / f:8.1f}x")
        print(f"ratio full sync   naive({m}, measured)/proxier({n}) : {naive_full / f:8.2f}x")
        print(f"ratio one change  naive/proxier               : {naive_one / c:8.1f}x")
        print("reference: kube-proxy (iptables mode) publishes ~1.3 s per sync at 1000 services")
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], check=False)


if __name__ == "__main__":
    main()
