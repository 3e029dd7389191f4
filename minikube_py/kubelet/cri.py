"""The kubelet's two narrow doors to the machine, in the roles CRI gives them in Kubernetes.

RuntimeService  containers: create/start/kill/delete/state/list/exit_info over the runtime.
                The kubelet is multi-threaded, so containers are never cloned from this
                process: mutations run the runtime CLI (`python -m minikube_py.runtime.cli`)
                as a short single-threaded child (or the runtime's RuntimeClient, which does
                the same); reads go straight to the state directory.
ImageService    images: present? pull, image config, the rootfs overlay for a container.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any


class RuntimeError_(Exception):
    """A runtime operation failed (message from the runtime CLI)."""


class RuntimeService:
    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, 0o711, exist_ok=True)

    # -- mutations: a single-threaded child process each -----------------------
    def _cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "minikube_py.runtime.cli", "--root", self.root, *args]
        # start_new_session: a signal to the kubelet's process group must not reach the runtime
        # mid-create, and the container's monitor must not belong to our session.
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, start_new_session=True)
        if proc.returncode != 0:
            msg = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
            raise RuntimeError_(msg.removeprefix("mkpy-runc: "))
        return proc

    def create(self, container_id: str, bundle: str) -> None:
        self._cli("create", "--bundle", bundle, container_id)

    def run(self, container_id: str, bundle: str) -> None:
        """create + start in one runtime process (`run --detach`): half the process starts."""
        self._cli("run", "--detach", "--bundle", bundle, container_id)

    def start(self, container_id: str) -> None:
        self._cli("start", container_id)

    def kill(self, container_id: str, signal: str = "SIGTERM") -> None:
        self._cli("kill", container_id, signal)

    def delete(self, container_id: str, force: bool = False) -> None:
        self._cli("delete", *(["--force"] if force else []), container_id)

    def exec(self, container_id: str, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "minikube_py.runtime.cli", "--root", self.root, "exec", container_id,
               *argv]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, start_new_session=True)

    def exec_stream(self, container_id: str, argv: list[str], stdin: bool) -> subprocess.Popen:
        """A process in the container with pipes, for streaming exec (kubectl exec)."""
        cmd = [sys.executable, "-m", "minikube_py.runtime.cli", "--root", self.root, "exec", container_id,
               *argv]
        return subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    # -- reads: the state directory ---------------------------------------------
    def _dir(self, container_id: str):
        from minikube_py.runtime.state import StateDir

        return StateDir(self.root, container_id)

    def state(self, container_id: str) -> dict[str, Any] | None:
        from minikube_py.runtime.errors import ContainerError

        try:
            return self._dir(container_id).oci_state()
        except (ContainerError, FileNotFoundError):
            return None

    def exit_info(self, container_id: str) -> dict[str, Any] | None:
        return self._dir(container_id).exit_info()

    def log_path(self, container_id: str) -> str | None:
        try:
            return self._dir(container_id).read().get("log_path")
        except Exception:  # noqa: BLE001 - gone
            return None

    def list(self, id_part: str = "") -> list[dict[str, Any]]:
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
