"""Fixtures for kubelet integration tests: a busybox image store per session, and a kubelet
per test (in-process, or as a CLI subprocess) whose every pod is torn down afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

PREFIX = "mkpyt-kl-"


@pytest.fixture(scope="session")
def image_root():
    from minikube_py.image import baseimage

    root = tempfile.mkdtemp(prefix=PREFIX + "images-")
    if os.geteuid() == 0:
        assert baseimage.main(["--root", root]) == 0
    yield root
    shutil.rmtree(root, ignore_errors=True)


class Node:
    """A kubelet on a tmp state dir, with helpers to write manifests and wait for pod states."""

    def __init__(self, base: str, image_root: str, **overrides) -> None:
        from minikube_py.kubelet.kubelet import KubeletConfig

        self.base = base
        self.manifests = os.path.join(base, "manifests")
        os.makedirs(self.manifests)
        tag = uuid.uuid4().hex[:4]
        self.config = KubeletConfig(
            root=os.path.join(base, "kubelet"), runtime_root=os.path.join(base, "runtime"),
            image_root=image_root, log_root=os.path.join(base, "logs"), pod_manifest_path=self.manifests,
            node_name="node1", netns_prefix=f"{PREFIX}{tag}-", backoff_initial=1.0, backoff_max=4.0,
            sync_period=0.2, memory_capacity=4 * 2**30,
            # The disk thresholds off (as `mkpy up` has them): a test machine's disk may well be
            # 85% full, and DiskPressure would evict the pods under test.
            eviction_hard={"memory.available": "100Mi"})
        for k, v in overrides.items():
            setattr(self.config, k, v)
        self.kubelet = None
        self.thread = None
        self.proc: subprocess.Popen | None = None

    # -- in-process kubelet -----------------------------------------------------
    def start(self, objects=None):
        from minikube_py.kubelet.kubelet import Kubelet

        self.kubelet = Kubelet(self.config, objects=objects)
        self.thread = threading.Thread(target=self.kubelet.run, name="kubelet", daemon=True)
        self.thread.start()
        return self.kubelet

    def stop(self) -> None:
        if self.kubelet is not None:
            self.kubelet.stop()
            self.thread.join(timeout=30)
            self.kubelet = None

    # -- kubelet as `python -m minikube_py.cli.main kubelet ...` ---------------------
    def start_cli(self) -> subprocess.Popen:
        c = self.config
        argv = [sys.executable, "-m", "minikube_py.cli.main", "kubelet", "--root", c.root,
                "--runtime-root", c.runtime_root, "--image-root", c.image_root, "--log-root", c.log_root,
                "--pod-manifest-path", c.pod_manifest_path, "--node-name", c.node_name,
                "--netns-prefix", c.netns_prefix, "--backoff-initial", str(c.backoff_initial),
                "--backoff-max", str(c.backoff_max), "--sync-period", str(c.sync_period)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return self.proc

    # -- pods ------------------------------------------------------------------------
    def apply(self, name: str, pod: dict) -> None:
        path = os.path.join(self.manifests, name + ".json")
        with open(path + ".tmp", "w") as f:
            json.dump(pod, f)
        os.replace(path + ".tmp", path)

    def remove(self, name: str) -> None:
        os.unlink(os.path.join(self.manifests, name + ".json"))

    def status(self, name: str) -> dict | None:
        pods = os.path.join(self.config.root, "pods")
        for uid in os.listdir(pods) if os.path.isdir(pods) else []:
            try:
                with open(os.path.join(pods, uid, "pod-with-status.json")) as f:
                    obj = json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                continue
            if obj["metadata"]["name"] == f"{name}-node1":
                return obj
        return None

    def events(self, name: str) -> list[dict]:
        obj = self.status(name)
        if obj is None:
            return []
        path = os.path.join(self.config.root, "pods", obj["metadata"]["uid"], "events.jsonl")
        try:
            with open(path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    # Waits are budgets, not timing assertions: generous, so a loaded 2-core CI host passes.
    def wait(self, name: str, predicate, timeout: float = 60, what: str = "") -> dict:
        deadline = time.monotonic() + timeout
        obj = None
        while time.monotonic() < deadline:
            obj = self.status(name)
            if obj is not None and predicate(obj):
                return obj
            time.sleep(0.1)
        pytest.fail(f"pod {name}: timed out waiting for {what or predicate}; last status:\n"
                    f"{json.dumps((obj or {}).get('status'), indent=1)}")

    def wait_gone(self, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status(name) is None:
                return
            time.sleep(0.1)
        pytest.fail(f"pod {name} was not torn down")

    def log(self, name: str, container: str, attempt: int = 0) -> str:
        obj = self.status(name)
        m = obj["metadata"]
        path = os.path.join(self.config.log_root, f"{m['namespace']}_{m['name']}_{m['uid']}", container,
                            f"{attempt}.log")
        with open(path) as f:
            return "".join(line.split(" ", 3)[3] for line in f)

    # -- cleanup -----------------------------------------------------------------------
    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stop()
        from minikube_py.kubelet.kubelet import Kubelet

        k = Kubelet(self.config)      # a fresh one re-adopts whatever is left, then drains it
        k.relist()
        k.shutdown_pods()
        force_cleanup(self.config)
        shutil.rmtree(self.base, ignore_errors=True)


def force_cleanup(cfg) -> None:
    """Last resort after a failed test: no container, netns or kubepods cgroup may survive."""
    from minikube_py.kubelet.cri import RuntimeError_, RuntimeService

    rt = RuntimeService(cfg.runtime_root)
    for st in rt.list():
        try:
            rt.delete(st["id"], force=True)
        except RuntimeError_:
            pass
    from minikube_py.network import delete_netns, is_netns

    if os.path.isdir(cfg.netns_dir):
        for name in os.listdir(cfg.netns_dir):
            path = os.path.join(cfg.netns_dir, name)
            if name.startswith(cfg.netns_prefix) and is_netns(path):
                delete_netns(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p.startswith(cfg.root)), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], check=False)
    # The QoS tiers go only if empty: rmdir each one itself, never what is below it (other
    # kubelets on this machine may have pods there).
    import glob

    for tier in ("kubepods/besteffort", "kubepods/burstable", "kubepods"):
        for path in glob.glob(f"/sys/fs/cgroup/{tier}") + glob.glob(f"/sys/fs/cgroup/*/{tier}"):
            try:
                os.rmdir(path)
            except OSError:
                pass


@pytest.fixture
def node(image_root):
    base = tempfile.mkdtemp(prefix=PREFIX)
    n = Node(base, image_root)
    try:
        yield n
    finally:
        n.cleanup()


def busybox_pod(name: str, *containers: dict, **spec) -> dict:
    for c in containers:
        c.setdefault("image", "busybox:latest")
        c.setdefault("imagePullPolicy", "IfNotPresent")
    spec.setdefault("terminationGracePeriodSeconds", 2)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": list(containers), **spec}}
