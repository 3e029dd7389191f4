"""The runtime's few calls into the cgroup drivers (minikube_py.runtime.cgroups).

Kept in one small module so the runtime reads as "make the cgroup, apply the
limits, move the init in", and so the driver (v1 or v2) stays behind one door.
"""

from __future__ import annotations

import os
from typing import Any

from minikube_py.runtime.errors import ContainerError

DEFAULT_PARENT = "/mkpy"


def cgroup_path(config: dict[str, Any], container_id: str) -> str:
    """linux.cgroupsPath, or /mkpy/<id> (Kubernetes passes kubepods/... paths)."""
    return (config.get("linux") or {}).get("cgroupsPath") or f"{DEFAULT_PARENT}/{container_id}"


def available() -> bool:
    """False until the cgroup drivers are installed (they come from the cgroups branch)."""
    try:
        from minikube_py.runtime import cgroups  # noqa: F401
    except ImportError:
        return False
    return True


_driver: str | None = None


def driver() -> str:
    """"v1" or "v2", detected once per process (it reads /proc/self/mountinfo)."""
    global _driver
    if _driver is None:
        from minikube_py.runtime import cgroups

        _driver = cgroups.detect()
    return _driver


def _open(path: str, sys: Any = None) -> Any:
    if not available():
        raise ContainerError("cgroups: minikube_py.runtime.cgroups is not installed")
    from minikube_py.runtime import cgroups

    try:
        return cgroups.open_cgroup(path, driver(), sys=sys)
    except cgroups.CgroupError as exc:
        raise ContainerError(str(exc)) from None


# Devices every container may use whatever its config says (runc's AllowedDevices): the
# default nodes of rootfs.DEFAULT_DEVICES, /dev/console, the ptys, and mknod of anything.
ALLOWED_DEVICES = [
    {"allow": True, "type": "c", "access": "m"}, {"allow": True, "type": "b", "access": "m"},
    *({"allow": True, "type": "c", "major": ma, "minor": mi, "access": "rwm"}
      for ma, mi in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2))),
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
]


def with_default_devices(resources: dict[str, Any] | None) -> dict[str, Any]:
    resources = dict(resources or {})
    resources["devices"] = list(resources.get("devices") or []) + ALLOWED_DEVICES
    return resources


def setup(path: str, resources: dict[str, Any] | None, pid: int, sys: Any, created: list[str]) -> None:
    """Make the container's cgroup, write its limits, and move the init into it.

    `created` receives the directories this made (also when it fails half-way), so
    destroy() removes exactly those: never a parent someone else made, such as a
    kubelet's pod cgroup (its limits would be lost).
    """
    if not available():
        sys.note("cgroup", why="no cgroup driver installed: limits not applied", path=path)
        return
    from minikube_py.runtime import cgroups

    cg = _open(path, sys)
    try:
        cg.create()
        cg.apply(with_default_devices(resources))
        cg.add_process(pid)
    except cgroups.CgroupError as exc:
        raise ContainerError(str(exc)) from None
    finally:
        created.extend(cg.created)


def join(path: str, pid: int) -> None:
    """Move an exec'd process into the container's cgroup."""
    _open(path).add_process(pid)


def oom_events_file(path: str) -> str | None:
    """The file whose `oom_kill N` line the monitor reads when the container exits."""
    if not available():
        return None
    if driver() == "v2":
        f = os.path.join("/sys/fs/cgroup", path.strip("/"), "memory.events")
    else:
        f = os.path.join("/sys/fs/cgroup/memory", path.strip("/"), "memory.oom_control")
    return f


def procs(path: str) -> list[int]:
    return _open(path).procs()


def stats(path: str) -> dict[str, Any]:
    return _open(path).stats()


def destroy(path: str, created: list[str] | None = None, prune: bool = False) -> None:
    """Kill whatever is left in the cgroup, then remove it and the parents create made.

    prune=True also removes empty parents made by others: only for the runtime's own
    default parent (/mkpy), which another container's create may have made.
    """
    if not available():
        return
    from minikube_py.runtime.cgroups import CgroupError

    cg = _open(path)
    try:
        cg.kill_all()
        if created is not None:
            cg.created = list(created)  # recorded at create, in another process
        cg.destroy(prune=prune)
    except CgroupError as exc:
        raise ContainerError(str(exc)) from None
