"""cgroup v1: one hierarchy (mount) per controller, so one directory per controller.

    /sys/fs/cgroup/memory/mkpy/ID/memory.limit_in_bytes      "33554432" ("-1" = unlimited)
                                 /memory.memsw.limit_in_bytes memory + swap together
                                 /memory.oom_control          ... "oom_kill 1" after an OOM kill
    /sys/fs/cgroup/cpu/mkpy/ID/cpu.cfs_quota_us + cpu.cfs_period_us, cpu.shares
    /sys/fs/cgroup/cpuacct/mkpy/ID/cpuacct.usage              CPU time used, in ns
    /sys/fs/cgroup/cpuset/mkpy/ID/cpuset.cpus, cpuset.mems   must be filled before pids can join
    /sys/fs/cgroup/pids/mkpy/ID/pids.max
    /sys/fs/cgroup/freezer/mkpy/ID/freezer.state              FROZEN / THAWED (used by kill_all)

The same path is made in every hierarchy and a process is added to each of them.
Hybrid hosts also mount a cgroup2 tree at /sys/fs/cgroup/unified; if it holds no
real controllers it is not used.
"""

from __future__ import annotations

import os
import time
from typing import Any

from minikube_py.kernel.syscalls import Syscalls
from minikube_py.runtime.cgroups.base import Cgroup, read_int, read_keyed, read_pids, read_text
from minikube_py.runtime.cgroups.convert import plan_v1
from minikube_py.runtime.cgroups.errors import CgroupError

# Controllers we place a container in, when the host mounts them as v1.
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer", "hugetlb",
               "net_cls", "net_prio", "perf_event", "rdma", "misc")
# memory.limit_in_bytes reads back as a huge page-aligned number when there is no limit.
UNLIMITED_THRESHOLD = 1 << 62


def v1_hierarchies(mountinfo: str = "/proc/self/mountinfo") -> dict[str, str]:
    """controller -> mount point, for every cgroup-v1 mount (co-mounted ones share a point)."""
    found: dict[str, str] = {}
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] != "cgroup":
                continue
            for option in fields[sep + 3].split(","):
                if option in CONTROLLERS:
                    found.setdefault(option, fields[4])
    return found


class CgroupV1(Cgroup):
    version = "v1"

    def __init__(self, path: str, sys: Syscalls | None = None,
                 hierarchies: dict[str, str] | None = None) -> None:
        super().__init__(path, sys)
        self.hierarchies = dict(hierarchies) if hierarchies is not None else v1_hierarchies()
        if not self.hierarchies:
            raise CgroupError("cgroupsPath: no cgroup-v1 controller is mounted on this host")
        # controller -> this cgroup's directory in that controller's hierarchy
        self.dirs = {c: os.path.join(mp, self.path) for c, mp in self.hierarchies.items()}

    def _unique_dirs(self) -> list[tuple[str, str]]:
        """(mount point, directory) once per hierarchy (cpu,cpuacct may share one mount)."""
        seen: dict[str, str] = {}
        for c in sorted(self.hierarchies):
            seen.setdefault(self.hierarchies[c], self.dirs[c])
        return list(seen.items())

    def directories(self) -> list[str]:
        return [d for _, d in self._unique_dirs()]

    def exists(self) -> bool:
        return any(os.path.isdir(d) for _, d in self._unique_dirs())

    def create(self) -> None:
        for mountpoint, _ in self._unique_dirs():
            copy = self._copy_cpuset if mountpoint == self.hierarchies.get("cpuset") else None
            self._mkdirs(mountpoint, self.path, after_create=copy)

    def _copy_cpuset(self, path: str) -> None:
        """A new v1 cpuset starts with no CPUs and no memory nodes, and a process cannot
        join an empty one (ENOSPC). Copy the parent's, as runc does."""
        parent = os.path.dirname(path)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not read_text(os.path.join(path, name)).strip():
                self.sys.write_file(os.path.join(path, name), read_text(os.path.join(parent, name)).strip(),
                                    why="a new v1 cpuset is empty; inherit the parent's")

    def apply(self, resources: dict[str, Any] | None) -> None:
        current = None
        if "memory" in self.dirs:
            value = read_int(os.path.join(self.dirs["memory"], "memory.limit_in_bytes"))
            current = value if value is not None and value < UNLIMITED_THRESHOLD else None
        writes = plan_v1(resources, current_memory_limit=current)  # validates before any write
        for w in writes:
            directory = self.dirs.get(w.controller)
            if directory is None:
                raise CgroupError(f"{w.field}: the {w.controller} controller is not mounted "
                                  "as cgroup v1 here")
            self._write(directory, w)

    def add_process(self, pid: int) -> None:
        for _, directory in self._unique_dirs():
            try:
                self.sys.write_file(os.path.join(directory, "cgroup.procs"), str(pid),
                                    why="move the process into its cgroup")
            except OSError as exc:
                raise CgroupError(f"cgroupsPath: cannot add pid {pid} to {directory}: "
                                  f"{exc.strerror}") from exc

    def procs(self) -> list[int]:
        pids: set[int] = set()
        for _, directory in self._unique_dirs():
            pids.update(read_pids(os.path.join(directory, "cgroup.procs")))
        return sorted(pids)

    def _tree_procs(self) -> list[int]:
        pids: set[int] = set()
        for _, directory in self._unique_dirs():
            for d, _, _ in os.walk(directory):
                pids.update(read_pids(os.path.join(d, "cgroup.procs")))
        return sorted(pids)

    def _file(self, controller: str, name: str) -> str:
        return os.path.join(self.dirs.get(controller, "/nonexistent"), name)

    def stats(self) -> dict[str, int | None]:
        limit = read_int(self._file("memory", "memory.limit_in_bytes"))
        oom = read_keyed(self._file("memory", "memory.oom_control"))
        return {
            "memory_usage": read_int(self._file("memory", "memory.usage_in_bytes"), 0),
            "memory_limit": None if limit is None or limit >= UNLIMITED_THRESHOLD else limit,
            "cpu_usage_ns": read_int(self._file("cpuacct", "cpuacct.usage"), 0),
            "pids_current": read_int(self._file("pids", "pids.current"), 0),
            # "oom_kill" appeared in Linux 4.13; before that, a hit limit (failcnt) is the best hint.
            "oom_kills": oom["oom_kill"] if "oom_kill" in oom
            else int((read_int(self._file("memory", "memory.failcnt"), 0) or 0) > 0),
            "cpu_throttled_periods": read_keyed(self._file("cpu", "cpu.stat")).get("nr_throttled", 0),
        }

    def kill_all(self, timeout: float = 5.0) -> None:
        if not self.exists():
            return
        freezer = self.dirs.get("freezer")
        state = os.path.join(freezer, "freezer.state") if freezer else None
        if state and os.path.exists(state):
            # Freeze first so a fork bomb cannot make new pids faster than we kill them.
            # (A task stuck in the kernel may never freeze: signal anyway after a second.)
            self.sys.write_file(state, "FROZEN", why="stop forks while we kill")
            try:
                self._poll(lambda: read_text(state).strip() == "FROZEN", min(timeout, 1.0))
                self._signal_all(self._tree_procs())
            finally:
                self.sys.write_file(state, "THAWED", why="thaw so the killed processes can exit")
        self._kill_survivors(timeout)

    def destroy(self, prune: bool = False, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        for mountpoint, directory in self._unique_dirs():
            self._rmdir_tree(directory, deadline)
            self._remove_parents(directory, mountpoint, prune)
