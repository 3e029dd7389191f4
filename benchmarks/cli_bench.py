"""mkpy's kubectl verbs vs real kubectl: wall time per command on the same API server.

    /opt/mkpy/venv/bin/python benchmarks/cli_bench.py [--pods 100] [--runs 10]

Baseline, measured in the same run: `kubectl` (Go, one static binary) doing the same command,
and `python -c pass` (the floor of any Python CLI: interpreter start-up). The ratios show what
mkpy costs on top of kubectl, and how much of it is only Python starting.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from minikube_py.api import auth
from minikube_py.api.testing import ThreadedApiServer


def timed(argv: list[str], env: dict, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mkpyt-cli-bench-") as tmp:
        ca, cert, key = auth.ensure_serving_cert(f"{tmp}/pki")
        with ThreadedApiServer(f"sqlite://{tmp}/state.db", tls_cert=cert, tls_key=key) as api:
            kc = auth.write_kubeconfig(f"{tmp}/admin.kubeconfig", api.url, api.token, ca)
            for i in range(args.pods):
                api.client.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": f"bench-{i}", "labels": {"app": "bench"}},
                        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                    }
                )
            env = dict(os.environ, KUBECONFIG=kc)
            mkpy = [sys.executable, "-m", "minikube_py.cli.main"]
            floor = timed([sys.executable, "-c", "pass"], env, args.runs)
            print(f"python -c pass: {floor * 1000:.0f} ms (median of {args.runs})")
            for verb in (["get", "pods"], ["get", "pods", "-o", "yaml"], ["describe", "pod", "bench-0"]):
                k = timed(["kubectl", *verb], env, args.runs)
                m = timed([*mkpy, *verb], env, args.runs)
                print(
                    f"{' '.join(verb):<22} kubectl {k * 1000:6.0f} ms   mkpy {m * 1000:6.0f} ms   "
                    f"ratio {m / k:4.1f}x   mkpy minus python start-up {(m - floor) * 1000:6.0f} ms"
                )


if __name__ == "__main__":
    main()
