"""RuntimeClient: the runtime for multi-threaded callers (the kubelet).

A multi-threaded process must not fork and keep running Python in the child
(another thread may hold a lock the child then waits on forever), so every verb
that forks - create, start, exec, kill, delete - runs the runtime CLI as a
separate, single-threaded process: the same CLI as `python -m minikube_py.runtime.cli --root R ...`,
started with `python -S` for speed (launcher.py explains).
Reading state needs no fork, so state/list/exit_info/log_path read the state
directory directly (state.py), which is also what the CLI does.
"""

from __future__ import annotations

import subprocess
from typing import Any

from minikube_py.runtime import launcher
from minikube_py.runtime.errors import ContainerError
from minikube_py.runtime.state import DEFAULT_ROOT, StateDir, list_ids


class RuntimeClient:
    def __init__(self, root: str = DEFAULT_ROOT, command: list[str] | None = None,
                 timeout: float = 120.0) -> None:
        self.root = root
        # The CLI to run; `mkpy-runc` (or real runc for the verbs they share) works too.
        self.command = command or launcher.command()
        self.timeout = timeout

    def _run(self, *args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess:
        argv = [*self.command, "--root", self.root, *args]
        timeout = kwargs.pop("timeout", self.timeout)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
        if check and done.returncode != 0:
            message = done.stderr.strip().removeprefix("mkpy-runc: ") or f"exit status {done.returncode}"
            raise ContainerError(f"{args[0]}: {message}")
        return done

    # -- verbs that fork: through the CLI --------------------------------
    def create(self, container_id: str, bundle: str, pid_file: str | None = None,
               console_socket: str | None = None) -> None:
        args = ["create", "--bundle", bundle]
        if pid_file:
            args += ["--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        self._run(*args, container_id)

    def start(self, container_id: str) -> None:
        self._run("start", container_id)

    def kill(self, container_id: str, signal: str = "SIGTERM") -> None:
        self._run("kill", container_id, str(signal))

    def delete(self, container_id: str, force: bool = False) -> None:
        self._run("delete", *(["--force"] if force else []), container_id)

    def exec(self, container_id: str, argv: list[str], env: dict[str, str] | None = None,
             cwd: str | None = None, user: str | None = None, tty: bool = False,
             timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run argv in the container; the CompletedProcess has its exit code, stdout and stderr."""
        args = ["exec"]
        for key, value in (env or {}).items():
            args += ["--env", f"{key}={value}"]
        if cwd:
            args += ["--cwd", cwd]
        if user:
            args += ["--user", str(user)]
        if tty:
            args.append("--tty")
        return self._run(*args, container_id, *argv, check=False, stdin=subprocess.DEVNULL,
                         timeout=timeout or self.timeout)

    # -- reads: straight from the state directory ------------------------
    def state(self, container_id: str) -> dict[str, Any]:
        return StateDir(self.root, container_id).oci_state()

    def list(self) -> list[dict[str, Any]]:
        out = []
        for cid in list_ids(self.root):
            try:
                out.append(self.state(cid))
            except ContainerError:
                continue
        return out

    def exit_info(self, container_id: str) -> dict[str, Any] | None:
        """{"exitCode", "signal", "startedAt", "finishedAt", "oomKilled"} once the container exited."""
        return StateDir(self.root, container_id).exit_info()

    def attach_socket(self, container_id: str) -> str:
        """The monitor's socket that feeds the container's stdin (annotation mkpy.io/stdin)."""
        from minikube_py.runtime.spec import ATTACH_SOCKET

        return StateDir(self.root, container_id).file(ATTACH_SOCKET)

    def log_path(self, container_id: str) -> str:
        return StateDir(self.root, container_id).read().get("log_path") or ""
