"""How long `mkpy up` takes to a Ready node, `mkpy down` to a clean machine, and the demo.

    sudo /opt/mkpy/venv/bin/python benchmarks/up_ready.py [--runs 3] [--demo]

Each run uses a fresh tmp root, its own node netns and free ports (nothing of the host's
/var/lib/mkpy or /run/mkpy is touched). Baseline for the ratio: starting the API server alone
(`mkpy apiserver serve` to its ready file), measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from minikube_py.api.testing import free_port


def env_for(root: str) -> dict:
    tag = secrets.token_hex(3)
    env = dict(os.environ)
    env.update(MKPY_STATE_ROOT=f"{root}/state", MKPY_RUN_ROOT=f"{root}/run", MKPY_LOG_DIR=f"{root}/log",
               MKPY_KUBECONFIG=f"{root}/admin.kubeconfig", MKPY_NODE_NAME=f"mkpyb-{tag}",
               MKPY_NODE_NETNS=f"mkpyb-{tag}", MKPY_NETNS_PREFIX=f"mkpyb-{tag}-",
               MKPY_API_PORT=str(free_port()), MKPY_KUBELET_PORT=str(free_port()),
               MKPY_REGISTRY_PORT=str(free_port()))
    return env


def timed(argv: list[str], env: dict) -> float:
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "minikube_py", *argv], env=env, capture_output=True,
                         text=True)
    took = time.monotonic() - t0
    if res.returncode != 0:
        raise SystemExit(f"mkpy {' '.join(argv)} failed:\n{res.stdout}\n{res.stderr}")
    return took


def apiserver_alone(root: str) -> float:
    ready = f"{root}/ready"
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "minikube_py", "apiserver", "serve", "--listen",
                             f"127.0.0.1:{free_port()}", "--socket", "", "--store", f"sqlite://{root}/db",
                             "--token-file", f"{root}/token", "--kubeconfig", f"{root}/kc", "--pki-dir",
                             f"{root}/pki", "--encryption-key-file", "", "--ready-file", ready],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(ready):
        time.sleep(0.01)
    took = time.monotonic() - t0
    proc.terminate()
    proc.wait()
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--demo", action="store_true", help="also time `mkpy demo` (first and second run)")
    args = ap.parse_args()
    ups, downs, bases = [], [], []
    for _ in range(args.runs):
        root = tempfile.mkdtemp(prefix="mkpyb-up-")
        try:
            bases.append(apiserver_alone(root))
            env = env_for(root)
            ups.append(timed(["up"], env))
            downs.append(timed(["down"], env))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    up, base = statistics.median(ups), statistics.median(bases)
    print(f"apiserver alone to ready     median {base:.2f} s")
    print(f"mkpy up to a Ready node      median {up:.2f} s  ({up / base:.1f}x the API server alone)")
    print(f"mkpy down (no pods)          median {statistics.median(downs):.2f} s")
    if args.demo:
        root = tempfile.mkdtemp(prefix="mkpyb-up-")
        env = env_for(root)
        try:
            first = timed(["demo"], env)
            second = timed(["demo"], env)
            print(f"mkpy demo first run          {first:.1f} s")
            print(f"mkpy demo second run         {second:.1f} s  ({second / first:.2f}x the first)")
        finally:
            timed(["down"], env)
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
