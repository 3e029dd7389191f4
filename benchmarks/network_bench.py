"""ADD and DEL latency: mkpy-cni + mkpy-ipam vs Debian's bridge + host-local, side by side.

    sudo /opt/mkpy/venv/bin/python benchmarks/network_bench.py [--runs 20]

Both chains run the same way a runtime runs them (minikube_py.network.cni.invoke:
fork/exec the plugin inside the node namespace through nsenter, JSON on stdin), on
the same node namespace, in alternation, so machine noise hits both alike. A third
column runs mkpy-cni's handler in-process (IPAM still an executable) to show how
much of the time is the Python interpreter starting. Everything lives in netns
named mkpyb-net-*, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from minikube_py.network import NodeNetwork, create_netns, delete_netns
from minikube_py.network.cni_plugin import handle
from minikube_py.network.cni_types import CniEnv


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    uid = uuid.uuid4().hex[:6]
    root = tempfile.mkdtemp(prefix="mkpyb-net-")
    node = NodeNetwork(f"mkpyb-net-{uid}-node", "10.244.0.0/24", root)
    node.ensure()
    pod = None
    timings: dict[str, dict[str, list[float]]] = {}
    try:
        confs = {
            "mkpy-cni + mkpy-ipam": node.conflist("mkpy"),
            "bridge + host-local": node.conflist("debian"),
        }
        # bridge + host-local alone: portmap and loopback are not part of the comparison
        confs["bridge + host-local"]["plugins"] = confs["bridge + host-local"]["plugins"][:1]
        node.write_conflist("mkpy")  # installs the mkpy executables on the node's CNI path
        pod = create_netns(f"/run/netns/mkpyb-net-{uid}-pod")
        mk = confs["mkpy-cni + mkpy-ipam"]
        inproc = dict(mk["plugins"][0], name=mk["name"], cniVersion=mk["cniVersion"])
        for i in range(args.runs + 1):  # run 0 warms caches and is not counted
            for label, conf in confs.items():
                t0 = time.perf_counter()
                node.cni(conf, "ADD", f"bench-{i}", pod)
                t1 = time.perf_counter()
                node.cni(conf, "DEL", f"bench-{i}", pod)
                t2 = time.perf_counter()
                if i:
                    timings.setdefault(label, {"ADD": [], "DEL": []})
                    timings[label]["ADD"].append(t1 - t0)
                    timings[label]["DEL"].append(t2 - t1)
            env = CniEnv("ADD", f"bench-in-{i}", pod, "eth0", "", node.cni_path())
            t0 = time.perf_counter()
            handle(env, inproc, here=node.netns_path)
            t1 = time.perf_counter()
            env.command = "DEL"
            handle(env, inproc, here=node.netns_path)
            t2 = time.perf_counter()
            if i:
                timings.setdefault("mkpy-cni in-process", {"ADD": [], "DEL": []})
                timings["mkpy-cni in-process"]["ADD"].append(t1 - t0)
                timings["mkpy-cni in-process"]["DEL"].append(t2 - t1)
    finally:
        if pod:
            delete_netns(pod)
        node.destroy()

    base = "bridge + host-local"
    med = {
        label: {op: statistics.median(v) * 1000 for op, v in ops.items()} for label, ops in timings.items()
    }
    print(f"CNI ADD/DEL latency, median of {args.runs} runs (ms); ratio = vs Debian {base}")
    print(f"{'chain':<24}{'ADD':>9}{'DEL':>9}{'ADD ratio':>11}{'DEL ratio':>11}")
    for label, m in med.items():
        print(
            f"{label:<24}{m['ADD']:>9.1f}{m['DEL']:>9.1f}"
            f"{m['ADD'] / med[base]['ADD']:>10.2f}x{m['DEL'] / med[base]['DEL']:>10.2f}x"
        )
    print(json.dumps({"runs": args.runs, "median_ms": med}))


if __name__ == "__main__":
    main()
