"""The runtime's few calls into the cgroup drivers (minikube_py.runtime.cgroups).

Kept in one small module so the runtime reads as "make the cgroup, apply the
limits, move the init in", and so the driver (v1 or v2) stays behind one door.
"""

from __future__ import annotations

import os
from typing import Any

from minikube_py.runtime.errors import ContainerError


def cgroup_path(config: dict[str, Any], container_id: str) -> str:
    """linux.cgroupsPath, or /mkpy/<id> (Kubernetes passes kubepods/... paths)."""
    return (config.get("linux") or {}).get("cgroupsPath") or f"/mkpy/{container_id}"


def available() -> bool:
    """False until the cgroup drivers are installed (they come from the cgroups branch)."""
    try:
        from minikube_py.runtime import cgroups  # noqa: F401
    except ImportError:
        return False
    return True


def _open(path: str, sys: Any = None) -> Any:
    if not available():
        raise ContainerError("cgroups: minikube_py.runtime.cgroups is not installed")
    from minikube_py.runtime import cgroups

    try:
        return cgroups.open_cgroup(path, sys=sys) if sys is not None else cgroups.open_cgroup(path)
    except cgroups.CgroupError as exc:
        raise ContainerError(str(exc)) from None


def setup(path: str, resources: dict[str, Any] | None, pid: int, sys: Any) -> None:
    """Make the container's cgroup, write its limits, and move the init into it."""
    if not available():
        sys.note("cgroup", why="no cgroup driver installed: limits not applied", path=path)
        return
    from minikube_py.runtime import cgroups

    cg = _open(path, sys)
    try:
        cg.create()
        cg.apply(resources or {})
        cg.add_process(pid)
    except cgroups.CgroupError as exc:
        raise ContainerError(f"linux.resources: {exc}") from None


def join(path: str, pid: int) -> None:
    """Move an exec'd process into the container's cgroup."""
    _open(path).add_process(pid)


def oom_events_file(path: str) -> str | None:
    """The file whose `oom_kill N` line the monitor reads when the container exits."""
    if not available():
        return None
    from minikube_py.runtime import cgroups

    if cgroups.detect() == "v2":
        f = os.path.join("/sys/fs/cgroup", path.strip("/"), "memory.events")
    else:
        f = os.path.join("/sys/fs/cgroup/memory", path.strip("/"), "memory.oom_control")
    return f


def procs(path: str) -> list[int]:
    return _open(path).procs()


def stats(path: str) -> dict[str, Any]:
    return _open(path).stats()


def destroy(path: str) -> None:
    """Kill whatever is left in the cgroup, then remove it."""
    if not available():
        return
    cg = _open(path)
    cg.kill_all()
    cg.destroy()
