"""How the kubelet carries probes out (the prober's `Executors`).

  exec       the runtime's exec: a new process in the container's namespaces and cgroup;
             exit 0 is success
  httpGet    an HTTP GET from a thread that entered the pod's network namespace (setns is
             per thread), so the pod IP - or 127.0.0.1 without CNI - is reachable although
             the kubelet lives elsewhere; 200-399 is success
  tcpSocket  a TCP connect from the same kind of thread
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any


class KubeletProbeExecutors:
    """Probes for real: exec through the runtime; HTTP and TCP from a thread inside the pod's netns."""

    def __init__(self, kubelet: Any) -> None:
        self.k = kubelet

    def exec(self, container_id: str, argv: list[str], timeout: float) -> tuple[str, str]:
        import subprocess

        try:
            res = self.k.runtime.exec(container_id, argv, timeout=timeout + 2)
        except subprocess.TimeoutExpired:
            return "failure", f"command {argv!r} timed out"
        out = (res.stdout + res.stderr).strip()
        return ("success" if res.returncode == 0 else "failure"), out

    def _in_pod(self, uid: str, fn: Callable[[], tuple[str, str]]) -> tuple[str, str]:
        rec = self.k.pods.get(uid)
        path = self.k._pod_netns(rec) if rec else None
        if not path:
            return fn()
        from minikube_py.network.netns import run_in_netns

        return run_in_netns(path, fn, self.k.sys)

    def http_get(self, pod_uid: str, host: str, port: int, path: str, scheme: str,
                 headers: list[dict], timeout: float) -> tuple[str, str]:
        import http.client

        def probe() -> tuple[str, str]:
            cls = http.client.HTTPSConnection if scheme == "HTTPS" else http.client.HTTPConnection
            kwargs: dict[str, Any] = {"timeout": timeout}
            if scheme == "HTTPS":
                import ssl

                kwargs["context"] = ssl._create_unverified_context()   # kubelet skips verification too
            conn = cls(host, port, **kwargs)
            try:
                conn.request("GET", path, headers={"User-Agent": "kube-probe/1.30",
                                                   **{h["name"]: h["value"] for h in headers}})
                resp = conn.getresponse()
                body = resp.read(10240).decode("utf-8", "replace")
            except OSError as exc:
                return "failure", f'Get "{scheme.lower()}://{host}:{port}{path}": {exc}'
            finally:
                conn.close()
            if 200 <= resp.status < 400:
                return "success", body
            return "failure", f"HTTP probe failed with statuscode: {resp.status}"

        return self._in_pod(pod_uid, probe)

    def tcp(self, pod_uid: str, host: str, port: int, timeout: float) -> tuple[str, str]:
        def probe() -> tuple[str, str]:
            try:
                with socket.create_connection((host, port), timeout=timeout):
                    return "success", ""
            except OSError as exc:
                return "failure", f"dial tcp {host}:{port}: {exc}"

        return self._in_pod(pod_uid, probe)
