"""cgroups: limit and account a container's memory, CPU, pids and I/O. One interface, two drivers.

    from minikube_py.runtime.cgroups import open_cgroup
    cg = open_cgroup("/mkpy/web")          # v1 or v2, whichever this host runs
    cg.create()
    cg.apply({"memory": {"limit": 64 << 20}, "pids": {"limit": 100}})   # OCI linux.resources
    cg.add_process(pid)
    ... cg.stats(), cg.oom_killed()
    cg.kill_all(); cg.destroy()

detect() picks the driver: a pure cgroup-v2 host (the VM lane, students' VMs,
every current distribution) mounts cgroup2 right at /sys/fs/cgroup; anything else
(v1, or hybrid with an almost empty cgroup2 at /sys/fs/cgroup/unified) is v1.
Every file written goes through the Syscalls facade, so the trace shows it.
"""

from __future__ import annotations

from minikube_py.kernel.syscalls import Syscalls
from minikube_py.runtime.cgroups.base import STATS_KEYS, Cgroup, normalize_path
from minikube_py.runtime.cgroups.convert import (
    blkio_weight_to_io_weight,
    cpu_max,
    plan_v1,
    plan_v2,
    shares_to_weight,
    swap_to_v2,
)
from minikube_py.runtime.cgroups.errors import CgroupError
from minikube_py.runtime.cgroups.v1 import CgroupV1
from minikube_py.runtime.cgroups.v2 import MOUNTPOINT, CgroupV2

__all__ = [
    "STATS_KEYS", "Cgroup", "CgroupError", "CgroupV1", "CgroupV2", "blkio_weight_to_io_weight", "cpu_max",
    "default_path", "detect", "normalize_path", "open_cgroup", "plan_v1", "plan_v2", "shares_to_weight",
    "swap_to_v2",
]


def detect(mountinfo: str = "/proc/self/mountinfo") -> str:
    """"v2" if cgroup2 is mounted at /sys/fs/cgroup itself, else "v1"."""
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fields[4] == MOUNTPOINT and fstype == "cgroup2":
                return "v2"
    return "v1"


def default_path(container_id: str) -> str:
    """Where a container goes when its config has no linux.cgroupsPath."""
    return f"/mkpy/{container_id}"


def open_cgroup(path: str, driver: str | None = None, *, sys: Syscalls | None = None) -> Cgroup:
    """The cgroup at `path` (an OCI cgroupsPath like "/mkpy/ID" or "kubepods/burstable/podUID/ID").

    Nothing is created until create(). `driver` forces "v1" or "v2"; `sys` is the
    (traced) Syscalls to write through.
    """
    driver = driver or detect()
    if driver == "v2":
        return CgroupV2(path, sys)
    if driver == "v1":
        return CgroupV1(path, sys)
    raise CgroupError(f"driver: {driver!r} is not \"v1\" or \"v2\"")
