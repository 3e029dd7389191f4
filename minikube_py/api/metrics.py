"""`metrics.k8s.io/v1beta1`: NodeMetrics and PodMetrics, what `kubectl top nodes|pods` reads.

In a real cluster metrics-server scrapes every kubelet's `/stats/summary` and serves this API
group through the API server. Here the API server does the scraping itself, on demand:

  1. list the Nodes, and GET each kubelet's `/stats/summary` (cumulative CPU time in ns and the
     memory working set, for the node, each pod and each container — read from cgroups);
  2. CPU *usage* is a rate: (CPU time now - CPU time before) / seconds between the two samples,
     in nanocores ("250000000n" = 250m = a quarter of a core). The previous sample of each node is
     kept; without a recent one we take two, half a second apart;
  3. memory usage is simply the working set now ("65536Ki").
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from .errors import not_found
from .nodeproxy import kubelet_endpoint, kubelet_session
from .registry import Registry
from .resources import Resource, lookup
from .selectors import parse_or_400

API_VERSION = "metrics.k8s.io/v1beta1"
MIN_WINDOW = 0.5  # seconds between two samples of one node
MAX_AGE = 120.0  # an older previous sample is not a fair "recent usage"

# node name -> (monotonic time, summary) of the last scrape
_last: dict[str, tuple[float, dict]] = {}


async def _summary(node: dict) -> dict | None:
    session, prefix = kubelet_session(kubelet_endpoint(node))
    async with session:
        try:
            async with session.get(prefix + "/stats/summary", timeout=aiohttp.ClientTimeout(total=10)) as r:
                return await r.json() if r.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None  # like metrics-server: a node we cannot scrape has no metrics


async def _two_samples(node: dict) -> tuple[dict, dict, float] | None:
    name = node["metadata"]["name"]
    prev = _last.get(name)
    if prev is None or time.monotonic() - prev[0] > MAX_AGE:
        first = await _summary(node)
        if first is None:
            return None
        prev = (time.monotonic(), first)
    wait = MIN_WINDOW - (time.monotonic() - prev[0])
    if wait > 0:
        await asyncio.sleep(wait)
    now = await _summary(node)
    if now is None:
        return None
    t = time.monotonic()
    _last[name] = (t, now)
    return prev[1], now, t - prev[0]


def _nanocores(before: dict | None, after: dict | None, seconds: float) -> int:
    if not after:
        return 0
    if "usageNanoCores" in after:  # a real kubelet computes the rate itself
        return int(after["usageNanoCores"])
    if not before or seconds <= 0:
        return 0
    delta = int(after.get("usageCoreNanoSeconds", 0)) - int(before.get("usageCoreNanoSeconds", 0))
    return max(0, int(delta / seconds))


def _usage(before: dict | None, after: dict, seconds: float) -> dict[str, str]:
    cpu = _nanocores((before or {}).get("cpu"), after.get("cpu"), seconds)
    memory = int((after.get("memory") or {}).get("workingSetBytes", 0))
    return {"cpu": f"{cpu}n", "memory": f"{memory // 1024}Ki"}


def _stamp(summary: dict, seconds: float) -> dict[str, str]:
    ts = ((summary.get("node") or {}).get("cpu") or {}).get("time") or time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime()
    )
    return {"timestamp": ts, "window": f"{max(seconds, 0.0):.3f}s"}


async def serve(registry: Registry, res: Resource, ns: str | None, name: str, query: Any) -> dict:
    label, no_field = parse_or_400(query.get("labelSelector"), None, res.plural)
    every, _ = parse_or_400(None, None, "nodes")
    nodes = (await registry.list(lookup("nodes"), None, every, no_field, 0, ""))["items"]
    samples = await asyncio.gather(*(_two_samples(n) for n in nodes))
    items: list[dict] = []
    if res.plural == "nodes":
        by_name = {n["metadata"]["name"]: n for n in nodes}
        for node_name, s in zip(by_name, samples, strict=True):
            if s is None or (name and node_name != name):
                continue
            before, after, secs = s
            if not label.matches(by_name[node_name]["metadata"].get("labels") or {}):
                continue
            items.append(
                {
                    "metadata": {
                        "name": node_name,
                        "labels": by_name[node_name]["metadata"].get("labels") or {},
                    },
                    **_stamp(after, secs),
                    "usage": _usage(before.get("node"), after.get("node") or {}, secs),
                }
            )
        kind = "NodeMetrics"
    else:
        pods = await registry.list(lookup("pods"), ns, label, no_field, 0, "")
        wanted = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in pods["items"]}
        for s in samples:
            if s is None:
                continue
            before, after, secs = s
            old = {(p["podRef"]["namespace"], p["podRef"]["name"]): p for p in before.get("pods") or []}
            for p in after.get("pods") or []:
                key = (p["podRef"]["namespace"], p["podRef"]["name"])
                if key not in wanted or (name and key[1] != name):
                    continue
                prev_ctrs = {c["name"]: c for c in (old.get(key) or {}).get("containers") or []}
                items.append(
                    {
                        "metadata": {
                            "name": key[1],
                            "namespace": key[0],
                            "labels": wanted[key]["metadata"].get("labels") or {},
                        },
                        **_stamp(after, secs),
                        "containers": [
                            {"name": c["name"], "usage": _usage(prev_ctrs.get(c["name"]), c, secs)}
                            for c in p.get("containers") or []
                        ],
                    }
                )
        kind = "PodMetrics"
    for item in items:
        item["metadata"]["creationTimestamp"] = item["timestamp"]
    if name:
        if not items:
            raise not_found(res.plural, name, res.group)
        return {"kind": kind, "apiVersion": API_VERSION, **items[0]}
    return {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items}
