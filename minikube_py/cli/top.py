"""`mkpy top nodes|pods`: CPU and memory from the resource metrics API (metrics.k8s.io).

kubectl top does not measure anything: it reads NodeMetrics/PodMetrics that metrics-server
serves under /apis/metrics.k8s.io/v1beta1 (gathered from each kubelet's /stats/summary).
When no metrics API is registered, the answer is kubectl's "Metrics API not available".
"""

from __future__ import annotations

import sys

import click

from minikube_py.api.errors import ApiError

from . import printers
from .describe import quantity
from .kubeclient import Kube, KubeError, kube_options

METRICS = "/apis/metrics.k8s.io/v1beta1"


def _metrics(kube: Kube, path: str, selector: str | None) -> list[dict]:
    try:
        return (
            kube.client.request("GET", METRICS + path, query={"labelSelector": selector}).get("items") or []
        )
    except ApiError as e:
        if e.code in (404, 503):
            raise KubeError("Metrics API not available") from None
        raise


def _cpu(v: str) -> str:
    return f"{int(quantity(v) * 1000)}m"


def _mem(v: str) -> str:
    return f"{int(quantity(v) // 2**20)}Mi"


@click.group("top")
def top() -> None:
    """Show CPU and memory use of nodes or pods (needs the metrics API)."""


@top.command("nodes")
@click.argument("name", required=False)
@click.option("-l", "--selector")
@kube_options
def top_nodes(kube: Kube, name: str | None, selector: str | None) -> None:
    items = (
        _metrics(kube, "/nodes" + (f"/{name}" if name else ""), selector)
        if not name
        else [kube.client.request("GET", f"{METRICS}/nodes/{name}")]
    )
    if not items:
        # kubectl's answer when the metrics API is there but no kubelet has reported yet.
        raise KubeError("metrics not available yet")
    nodes = {n["metadata"]["name"]: n for n in kube.client.list("nodes").get("items") or []}
    rows = [["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]]
    for m in sorted(items, key=lambda m: m["metadata"]["name"]):
        alloc = ((nodes.get(m["metadata"]["name"]) or {}).get("status") or {}).get("allocatable") or {}
        cpu, mem = m["usage"].get("cpu", "0"), m["usage"].get("memory", "0")
        cpu_pct = int(quantity(cpu) * 100 / quantity(alloc["cpu"])) if alloc.get("cpu") else 0
        mem_pct = int(quantity(mem) * 100 / quantity(alloc["memory"])) if alloc.get("memory") else 0
        rows.append([m["metadata"]["name"], _cpu(cpu), f"{cpu_pct}%", _mem(mem), f"{mem_pct}%"])
    sys.stdout.write(printers.tabulate(rows))


@top.command("pods")
@click.argument("name", required=False)
@click.option("-l", "--selector")
@click.option("--containers", is_flag=True, help="One line per container.")
@click.option("-A", "--all-namespaces", is_flag=True)
@kube_options
def top_pods(
    kube: Kube, name: str | None, selector: str | None, containers: bool, all_namespaces: bool
) -> None:
    ns_path = "" if all_namespaces else f"/namespaces/{kube.namespace}"
    items = (
        _metrics(kube, f"{ns_path}/pods" + (f"/{name}" if name else ""), selector)
        if not name
        else [kube.client.request("GET", f"{METRICS}{ns_path}/pods/{name}")]
    )
    if not items:
        click.echo(f"No resources found in {kube.namespace} namespace.", err=True)
        return
    head = (["NAMESPACE"] if all_namespaces else []) + ["NAME"] + (["POD"] if containers else [])
    rows = [[*head, "CPU(cores)", "MEMORY(bytes)"]]
    for m in sorted(items, key=lambda m: m["metadata"]["name"]):
        pre = [m["metadata"]["namespace"]] if all_namespaces else []
        if containers:
            for c in m.get("containers") or []:
                rows.append(
                    [
                        *pre,
                        m["metadata"]["name"],
                        c["name"],
                        _cpu(c["usage"]["cpu"]),
                        _mem(c["usage"]["memory"]),
                    ]
                )
        else:
            cpu = sum(quantity(c["usage"].get("cpu", "0")) for c in m.get("containers") or [])
            mem = sum(quantity(c["usage"].get("memory", "0")) for c in m.get("containers") or [])
            rows.append([*pre, m["metadata"]["name"], f"{int(cpu * 1000)}m", f"{int(mem // 2**20)}Mi"])
    sys.stdout.write(printers.tabulate(rows))
