"""The kubelet's two narrow doors to the machine, in the roles CRI gives them in Kubernetes.

RuntimeService  containers: create/start/kill/delete/state/list/exit_info over the runtime's
                RuntimeClient. The kubelet is multi-threaded, so containers are never cloned
                from this process: mutations run the runtime CLI (`python -m
                minikube_py.runtime.cli`) as a short single-threaded child; reads go straight
                to the state directory.
ImageService    images: present? pull, image config, the rootfs overlay for a container.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

from minikube_py.runtime.client import RuntimeClient
from minikube_py.runtime.errors import ContainerError


class RuntimeError_(Exception):
    """A runtime operation failed (message from the runtime CLI)."""


class RuntimeService(RuntimeClient):
    """The runtime's RuntimeClient, as the kubelet wants it: runtime children in their own
    session (a Ctrl-C or SIGTERM aimed at the kubelet must not reach a half-done create),
    one error type, `state()` of a missing container is None, and `run` (create + start in
    one process) for sandboxes."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        os.makedirs(root, 0o711, exist_ok=True)

    def _run(self, *args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess:
        kwargs.setdefault("start_new_session", True)
        try:
            return super()._run(*args, check=check, **kwargs)
        except ContainerError as exc:
            raise RuntimeError_(str(exc)) from None

    def run(self, container_id: str, bundle: str) -> None:
        """create + start in one runtime process (`run --detach`): half the process starts."""
        self._run("run", "--detach", "--bundle", bundle, container_id)

    def exec(self, container_id: str, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        return super().exec(container_id, argv, timeout=timeout)

    def exec_stream(self, container_id: str, argv: list[str], stdin: bool) -> subprocess.Popen:
        """A process in the container with pipes, for streaming exec (kubectl exec)."""
        cmd = [sys.executable, "-m", "minikube_py.runtime.cli", "--root", self.root, "exec", container_id,
               *argv]
        return subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    # -- reads: the state directory ---------------------------------------------
    def state(self, container_id: str) -> dict[str, Any] | None:  # type: ignore[override]
        try:
            return super().state(container_id)
        except (ContainerError, FileNotFoundError):
            return None

    def list(self, id_part: str = "") -> list[dict[str, Any]]:  # type: ignore[override]
        """Every container (whose id contains `id_part`, a cheap pre-filter) as OCI state."""
        out = []
        try:
            ids = [d for d in os.listdir(self.root)
                   if os.path.isfile(os.path.join(self.root, d, "state.json"))]
        except FileNotFoundError:
            return []
        for cid in ids:
            if id_part not in cid:
                continue
            st = self.state(cid)
            if st is not None:
                out.append(st)
        return out


class ImageService:
    """The node's image store, as the kubelet uses it (one lock: pulls of one ref never race)."""

    def __init__(self, root: str) -> None:
        from minikube_py.image.store import ImageStore

        self.store = ImageStore(root)
        self._lock = threading.Lock()

    def present(self, ref: str) -> bool:
        return self.store.exists(ref)

    def pull(self, ref: str) -> Any:
        with self._lock:
            return self.store.pull(ref)

    def image(self, ref: str) -> Any:
        return self.store.resolve(ref)

    def config(self, ref: str) -> dict:
        return dict(self.store.resolve(ref).config)

    def prepare_rootfs(self, ref: str, key: str) -> dict:
        with self._lock:
            return self.store.prepare_rootfs(ref, key)

    def release_rootfs(self, key: str) -> None:
        with self._lock:
            self.store.release_rootfs(key)
