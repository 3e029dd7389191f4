"""Kubelet benchmarks: static pod start latency, node memory per running pod, a full node.

    sudo /opt/mkpy/venv/bin/python benchmarks/kubelet_pods.py [--pods 30] [--full 110]

Figures (printed, never asserted):
  * start latency, manifest written -> every container running (status.json says so),
    p50/p99 over 1 pod started alone (5 times) and over N pods written at once;
  * the baseline in the same run: one bare container create+start through the runtime
    (what a pod costs beyond it is the sandbox, the pod cgroup and the kubelet's loop);
  * memory per running pod: summed PSS of the processes a pod adds (monitors, infra,
    the container) and the node's used memory before/after;
  * with --full: 110 pods on one node (kubelet's default max-pods), time to all running.
Everything lives in a temporary directory and is torn down at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psutil

from minikube_py.image import baseimage
from minikube_py.kubelet.kubelet import Kubelet, KubeletConfig


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                "name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "100000"]}]}}


class Bench:
    def __init__(self, base: str, images: str) -> None:
        self.base = base
        self.manifests = os.path.join(base, "manifests")
        os.makedirs(self.manifests)
        self.cfg = KubeletConfig(root=os.path.join(base, "kubelet"), runtime_root=os.path.join(base, "rt"),
                                 image_root=images, log_root=os.path.join(base, "logs"),
                                 pod_manifest_path=self.manifests, node_name="bench",
                                 netns_prefix="mkpyt-kl-bench-", sync_period=0.1)
        self.k = Kubelet(self.cfg)
        self.t = threading.Thread(target=self.k.run, daemon=True)
        self.t.start()

    def running(self, name: str) -> bool:
        for rec in list(self.k.pods.values()):
            if rec.pod["metadata"]["name"] == f"{name}-bench":
                cs = rec.status.get("containerStatuses") or []
                return bool(cs) and all("running" in c["state"] for c in cs)
        return False

    def start(self, names: list[str]) -> list[float]:
        t0 = time.monotonic()
        for n in names:
            with open(os.path.join(self.manifests, n + ".json"), "w") as f:
                json.dump(pod(n), f)
        done: dict[str, float] = {}
        while len(done) < len(names):
            for n in names:
                if n not in done and self.running(n):
                    done[n] = time.monotonic() - t0
            time.sleep(0.01)
            if time.monotonic() - t0 > 600:
                raise SystemExit(f"only {len(done)}/{len(names)} pods running after 600 s")
        return [done[n] for n in names]

    def remove_all(self) -> float:
        t0 = time.monotonic()
        for f in os.listdir(self.manifests):
            os.unlink(os.path.join(self.manifests, f))
        while self.k.pods:
            time.sleep(0.05)
        return time.monotonic() - t0

    def close(self) -> None:
        self.k.stop()
        self.t.join()
        self.k.relist()
        self.k.shutdown_pods()


def pss_of_pods(k: Kubelet) -> float:
    """Summed PSS (MiB) of every process living in a pod cgroup or monitoring one."""
    total = 0
    for st in k.runtime.list():
        pids = {st.get("pid") or 0}
        try:
            with open(os.path.join(k.cfg.runtime_root, st["id"], "state.json")) as f:
                pids.add(json.load(f).get("monitor_pid") or 0)
        except FileNotFoundError:
            pass
        for pid in pids - {0}:
            try:
                total += psutil.Process(pid).memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    return total / 2**20


def baseline_container(images: str, base: str) -> float:
    """One container create+start straight through the runtime: the floor under a pod."""
    from minikube_py.image.store import ImageStore
    from minikube_py.kubelet.cri import RuntimeService

    rt = RuntimeService(os.path.join(base, "rt-baseline"))
    store = ImageStore(images)
    bundle = os.path.join(base, "baseline")
    os.makedirs(os.path.join(bundle, "rootfs"))
    overlay = store.prepare_rootfs("busybox:latest", "mkpyt-kl-baseline")
    process = {"args": ["sleep", "100000"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]}
    cfg = {"ociVersion": "1.0.2", "process": process,
           "root": {"path": os.path.join(bundle, "rootfs")},
           "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
           "linux": {"namespaces": [{"type": t} for t in ("pid", "mount", "ipc", "uts")]},
           "annotations": {"mkpy.io/overlay": json.dumps(overlay)}}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    t0 = time.monotonic()
    rt.create("mkpyt-kl-baseline", bundle)
    rt.start("mkpyt-kl-baseline")
    took = time.monotonic() - t0
    rt.delete("mkpyt-kl-baseline", force=True)
    store.release_rootfs("mkpyt-kl-baseline")
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--full", type=int, default=0, help="also run this many pods at once (110 = max-pods)")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="mkpyt-kl-bench-")
    images = os.path.join(base, "images")
    with open(os.devnull, "w") as null:
        old, sys.stdout = sys.stdout, null
        baseimage.main(["--root", images])
        sys.stdout = old
    try:
        base_s = statistics.median(baseline_container(images, os.path.join(base, f"b{i}")) for i in range(3))
        print(f"baseline: bare container create+start through the runtime: {base_s * 1000:.0f} ms "
              "(median of 3)")
        b = Bench(os.path.join(base, "node"), images)
        try:
            singles = []
            for i in range(5):
                singles += b.start([f"one{i}"])
                b.remove_all()
            p50 = statistics.median(singles)
            print(f"1 pod: start latency p50 {p50 * 1000:.0f} ms, p99 {pct(singles, 99) * 1000:.0f} ms "
                  f"(x{p50 / base_s:.1f} the bare container)")
            used0 = psutil.virtual_memory().used
            rss0 = psutil.Process().memory_info().rss
            many = b.start([f"p{i}" for i in range(args.pods)])
            print(f"{args.pods} pods at once: p50 {statistics.median(many):.2f} s, "
                  f"p99 {pct(many, 99):.2f} s, all running after {max(many):.2f} s")
            used1 = psutil.virtual_memory().used
            rss1 = psutil.Process().memory_info().rss
            cpu0, t0 = psutil.Process().cpu_times(), time.monotonic()
            time.sleep(5)
            cpu1, t1 = psutil.Process().cpu_times(), time.monotonic()
            busy = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (t1 - t0)
            print(f"kubelet with {args.pods} running pods: RSS {rss1 / 2**20:.0f} MiB "
                  f"(+{(rss1 - rss0) / 2**20 / args.pods:.2f} MiB/pod), "
                  f"idle loop {busy * 100:.1f}% of a core")
            pss = pss_of_pods(b.k)
            print(f"memory per running pod: {pss / args.pods:.2f} MiB PSS (monitors + infra + container), "
                  f"node used +{(used1 - used0) / 2**20 / args.pods:.2f} MiB/pod")
            print(f"tear-down of {args.pods} pods: {b.remove_all():.2f} s")
            if args.full:
                full = b.start([f"f{i}" for i in range(args.full)])
                print(f"{args.full} pods on one node: all running after {max(full):.1f} s "
                      f"(p50 {statistics.median(full):.1f} s); PSS {pss_of_pods(b.k):.0f} MiB in all")
                print(f"tear-down of {args.full} pods: {b.remove_all():.1f} s")
        finally:
            b.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
