"""API server figures: create and list 1000 pods; 10 watchers receiving 1000 events.

    /opt/mkpy/venv/bin/python benchmarks/api_bench.py [--n 1000] [--watchers 10] [--store sqlite|etcd|both]

Baseline, measured in the same run: the same number of bare key-value creates straight into the
storage backend (no HTTP, no JSON objects, no validation), so the ratio shows what the API layer
costs on top of the store.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from minikube_py.api.testing import EtcdProcess, ThreadedApiServer


def pod(i: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"bench-{i}", "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }


def run(store_url: str, label: str, n: int, watchers: int) -> None:
    with ThreadedApiServer(store_url) as api:
        c = api.client

        async def bare() -> None:
            for i in range(n):
                await api.server.backend.create(f"/bench/baseline/{i}", b'{"x":1}')

        t0 = time.perf_counter()
        api.call(bare(), timeout=600)
        baseline = time.perf_counter() - t0

        t0 = time.perf_counter()
        for i in range(n):
            c.create(pod(i))
        create = time.perf_counter() - t0

        t0 = time.perf_counter()
        items = c.list("pods", "default")["items"]
        list_all = time.perf_counter() - t0
        assert len(items) == n

        t0 = time.perf_counter()
        token, pages = None, 0
        while True:
            page = c.list("pods", "default", limit=100, continue_=token)
            pages += 1
            token = page["metadata"].get("continue")
            if not token:
                break
        list_paged = time.perf_counter() - t0

        t0 = time.perf_counter()
        c.list("pods", "default", label_selector="app=bench", field_selector="status.phase=Pending")
        list_selected = time.perf_counter() - t0

        # 10 watchers from the same resourceVersion; then n writes; each must see all n events.
        rv = c.list("configmaps", "default")["metadata"]["resourceVersion"]
        counts = [0] * watchers
        done = threading.Barrier(watchers + 1)
        streams = [api.client.watch("configmaps", "default", resource_version=rv) for _ in range(watchers)]

        def watch(k: int) -> None:
            for _ev in streams[k]:
                counts[k] += 1
                if counts[k] >= n:
                    break
            done.wait()

        threads = [threading.Thread(target=watch, args=(k,), daemon=True) for k in range(watchers)]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        for i in range(n):
            c.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"w-{i}"},
                    "data": {"i": str(i)},
                }
            )
        writes = time.perf_counter() - t0
        done.wait(timeout=600)
        fanout = time.perf_counter() - t0
        for s in streams:
            s.stop()

    print(f"[{label}] baseline: {n} bare store creates          {baseline:7.2f} s  ({n / baseline:7.0f}/s)")
    print(
        f"[{label}] create {n} pods over HTTP                {create:7.2f} s  ({n / create:7.0f}/s)"
        f"  ratio vs baseline {create / baseline:5.1f}x"
    )
    print(f"[{label}] list {n} pods (one response)             {list_all * 1000:7.1f} ms")
    print(f"[{label}] list {n} pods in {pages} pages of 100          {list_paged * 1000:7.1f} ms")
    print(f"[{label}] list with label+field selector          {list_selected * 1000:7.1f} ms")
    print(
        f"[{label}] {watchers} watchers x {n} events: writes {writes:.2f} s,"
        f" all delivered after {fanout:.2f} s"
        f" ({watchers * n / fanout:.0f} events/s delivered; counts {min(counts)}..{max(counts)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--watchers", type=int, default=10)
    ap.add_argument("--store", choices=["sqlite", "etcd", "both"], default="both")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mkpyt-api-bench-") as tmp:
        if args.store in ("sqlite", "both"):
            run(f"sqlite://{tmp}/bench.db", "sqlite", args.n, args.watchers)
        if args.store in ("etcd", "both"):
            with EtcdProcess(tmp) as etcd:
                run(f"etcd://{etcd.endpoint}", "etcd", args.n, args.watchers)


if __name__ == "__main__":
    main()
