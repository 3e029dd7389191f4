"""A throwaway 3-member etcd cluster on loopback free ports (Debian's etcd-server)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

from minikube_py.api.testing import free_port


class EtcdCluster:
    def __init__(self, size: int = 3, prefix: str = "mkpyt-mn") -> None:
        self.dir = tempfile.mkdtemp(prefix=f"{prefix}-etcd-")
        self.names = [f"{prefix}-m{i}" for i in range(1, size + 1)]
        self.client_ports = [free_port() for _ in self.names]
        self.peer_ports = [free_port() for _ in self.names]
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def endpoints(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.client_ports]

    @property
    def url(self) -> str:
        return "etcd://" + ",".join(self.endpoints)

    def _argv(self, i: int) -> list[str]:
        name = self.names[i]
        c, p = f"http://127.0.0.1:{self.client_ports[i]}", f"http://127.0.0.1:{self.peer_ports[i]}"
        initial = ",".join(
            f"{n}=http://127.0.0.1:{pp}" for n, pp in zip(self.names, self.peer_ports, strict=True)
        )
        return [
            "etcd", "--name", name, "--data-dir", os.path.join(self.dir, name),
            "--listen-client-urls", c, "--advertise-client-urls", c,
            "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
            "--initial-cluster", initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", "mkpyt-mn",
            "--heartbeat-interval", "50", "--election-timeout", "500",
        ]  # fmt: skip

    def start(self) -> EtcdCluster:
        for i, name in enumerate(self.names):
            log = open(os.path.join(self.dir, f"{name}.log"), "wb")
            self.procs[name] = subprocess.Popen(self._argv(i), stdout=log, stderr=subprocess.STDOUT)
            log.close()
        deadline = time.monotonic() + 30
        for ep in self.endpoints:
            while True:
                try:
                    urllib.request.urlopen(f"http://{ep}/health", timeout=1).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"etcd cluster did not come up; logs in {self.dir}") from None
                    time.sleep(0.1)
        return self

    def stop_member(self, i: int) -> None:
        proc = self.procs[self.names[i]]
        proc.terminate()
        proc.wait(15)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
