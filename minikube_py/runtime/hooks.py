"""OCI hooks: programs the runtime runs at fixed points of a container's life.

Where each stage runs (runtime-spec, config.md "POSIX-platform Hooks"):
  prestart, createRuntime  the runtime's namespaces, during create, before pivot_root
  createContainer          the container's namespaces, before pivot_root   (init.py)
  startContainer           the container, just before the user process's execve (init.py)
  poststart                the runtime's namespaces, after start released the process
  poststop                 the runtime's namespaces, during delete
Each hook gets the container's state JSON on stdin; a failing hook fails the
operation (except poststart/poststop, which only warn, as the spec says).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from minikube_py.runtime.errors import ContainerError


def run(stage: str, config: dict[str, Any], state: dict[str, Any], strict: bool = True) -> None:
    stage_hooks = (config.get("hooks") or {}).get(stage) or []
    if not stage_hooks:
        return
    import subprocess  # only paid for by containers that have hooks

    for i, hook in enumerate(stage_hooks):
        argv = hook.get("args") or [hook["path"]]
        env = dict(e.split("=", 1) for e in hook.get("env") or [])
        try:
            done = subprocess.run(argv, executable=hook["path"], input=json.dumps(state).encode(),
                                  env=env, capture_output=True, timeout=hook.get("timeout"))
            failed = done.returncode != 0
            why = f"exit status {done.returncode}: {done.stderr.decode(errors='replace').strip()}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            failed, why = True, str(exc)
        if failed:
            message = f"hooks.{stage}[{i}] ({hook['path']}) failed: {why}"
            if strict:
                raise ContainerError(message)
            print(f"warning: {message}", file=sys.stderr)
