"""SIGKILL the API server in the middle of writes: every acknowledged write survives a restart,
and a watch resumes from a resourceVersion handed out before the crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from minikube_py.api.client import Client
from minikube_py.api.errors import ApiError


def start_server(tmp, store: str, listen: str = "127.0.0.1:0") -> tuple[subprocess.Popen, Client]:
    ready = tmp / "ready"
    if ready.exists():
        ready.unlink()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minikube_py.api.cli",
            "serve",
            "--listen",
            listen,
            "--socket",
            "",
            "--store",
            store,
            "--token-file",
            str(tmp / "tokens.csv"),
            "--kubeconfig",
            str(tmp / "kubeconfig"),
            "--encryption-key-file",
            str(tmp / "enc.key"),
            "--no-tls",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "server.log", "ab"),
    )
    deadline = time.monotonic() + 30
    while not (ready.exists() and ready.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server did not start: {(tmp / 'server.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return proc, Client.from_kubeconfig(str(tmp / "kubeconfig"))


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


@pytest.mark.parametrize("store", ["sqlite", "etcd"])
def test_sigkill_mid_write_loses_no_acknowledged_write(tmp_path, store, request):
    if store == "etcd":
        etcd = request.getfixturevalue("etcd")
        etcd.wipe()
        url = f"etcd://{etcd.endpoint}"
    else:
        url = f"sqlite://{tmp_path}/state.db"
    proc, client = start_server(tmp_path, url)
    port = int((tmp_path / "ready").read_text())
    try:
        mark = client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mark"}})
        acked: list[str] = []
        stop_writing = threading.Event()

        def writer() -> None:
            c = Client.from_kubeconfig(str(tmp_path / "kubeconfig"), timeout=5)
            i = 0
            while not stop_writing.is_set():
                name = f"w-{i}"
                try:
                    c.create(
                        {
                            "apiVersion": "v1",
                            "kind": "Secret",
                            "metadata": {"name": name},
                            "stringData": {"n": str(i)},
                        }
                    )
                except (OSError, ApiError):
                    return  # the server died under us: this write was never acknowledged
                acked.append(name)
                i += 1

        # A watch that lives through the crash: it must resume on its own afterwards.
        survivor = client.watch("configmaps", "default", resource_version=mark["metadata"]["resourceVersion"])
        survived: list[str] = []
        watcher = threading.Thread(
            target=lambda: [survived.append(e["object"]["metadata"]["name"]) for e in survivor], daemon=True
        )
        watcher.start()

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        while len(acked) < 60 and t.is_alive():
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # mid-write: the writer has a request in flight
        proc.wait(10)
        stop_writing.set()
        t.join(10)
        assert len(acked) >= 60

        proc, client = start_server(tmp_path, url, f"127.0.0.1:{port}")
        names = {s["metadata"]["name"] for s in client.list("secrets", "default")["items"]}
        missing = [n for n in acked if n not in names]
        assert not missing, f"acknowledged writes lost: {missing}"
        assert client.get("secrets", acked[-1])["data"]["n"]

        # A watch from before the crash replays every write since, in order.
        seen = []
        for ev in client.watch(
            "secrets", "default", resource_version=mark["metadata"]["resourceVersion"], timeout_seconds=5
        ):
            seen.append(ev["object"]["metadata"]["name"])
            if len(seen) >= len(acked):
                break
        assert seen[: len(acked)] == acked

        client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after-restart"}})
        deadline = time.monotonic() + 20
        while "after-restart" not in survived and time.monotonic() < deadline:
            time.sleep(0.05)
        survivor.stop()
        watcher.join(10)
        assert survived == ["after-restart"]
    finally:
        stop(proc)
