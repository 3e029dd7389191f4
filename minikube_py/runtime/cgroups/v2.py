"""cgroup v2 (the unified hierarchy): one tree, every controller in it.

    /sys/fs/cgroup/mkpy/ID/memory.max        "33554432" or "max"
                          /cpu.max           "50000 100000" = half a CPU
                          /cpu.weight        1..10000, default 100
                          /pids.max          "64"
                          /cgroup.procs      the pids inside
                          /memory.events     ... "oom_kill 1" after an OOM kill
                          /cgroup.kill       write "1": SIGKILL everything inside (Linux 5.14+)
    device rules: no file; an eBPF program attached to the directory (devices.py)

A child only gets a controller's files if its parent lists that controller in
`cgroup.subtree_control`, so create() enables them on the way down. The "no
internal processes" rule says a cgroup that has processes cannot hand controllers
to children, which is why containers are leaves and their parents hold no pids.
"""

from __future__ import annotations

import os
import time
from typing import Any

from minikube_py.kernel.syscalls import Syscalls
from minikube_py.runtime.cgroups import devices
from minikube_py.runtime.cgroups.base import Cgroup, read_int, read_keyed, read_pids, read_text
from minikube_py.runtime.cgroups.convert import plan_v2
from minikube_py.runtime.cgroups.errors import CgroupError

MOUNTPOINT = "/sys/fs/cgroup"


class CgroupV2(Cgroup):
    version = "v2"

    def __init__(self, path: str, sys: Syscalls | None = None, mountpoint: str = MOUNTPOINT) -> None:
        super().__init__(path, sys)
        self.mountpoint = mountpoint.rstrip("/") or "/"
        self.dir = os.path.join(self.mountpoint, self.path)

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    def directories(self) -> list[str]:
        return [self.dir]

    def create(self) -> None:
        self._mkdirs(self.mountpoint, self.path, before_child=self._enable_controllers)

    def _enable_controllers(self, parent: str) -> None:
        """Hand every controller the parent has down to its children (as runc does)."""
        available = read_text(os.path.join(parent, "cgroup.controllers")).split()
        enabled = read_text(os.path.join(parent, "cgroup.subtree_control")).split()
        missing = [c for c in available if c not in enabled]
        if not missing:
            return
        target = os.path.join(parent, "cgroup.subtree_control")
        try:
            self.sys.write_file(target, " ".join("+" + c for c in missing),
                                why="let child cgroups use these controllers")
            return
        except OSError:
            pass
        # One at a time, so one controller the kernel refuses does not cost us the others.
        for c in missing:
            try:
                self.sys.write_file(target, "+" + c, why="let child cgroups use this controller")
            except OSError as exc:
                self.sys.note("skip", why=f"cannot enable {c} in {parent}: {exc.strerror}")

    def apply(self, resources: dict[str, Any] | None) -> None:
        writes = plan_v2(resources)  # validates everything before the first write
        for w in writes:
            self._write(self.dir, w)
        if resources and resources.get("devices"):
            # v2 has no devices.allow file: an eBPF program attached to the cgroup decides instead.
            devices.attach(self.dir, resources["devices"], self.sys)

    def add_process(self, pid: int) -> None:
        try:
            self.sys.write_file(os.path.join(self.dir, "cgroup.procs"), str(pid),
                                why="move the process into its cgroup")
        except OSError as exc:
            raise CgroupError(f"cgroupsPath: cannot add pid {pid} to {self.dir}: {exc.strerror}") from exc

    def procs(self) -> list[int]:
        return read_pids(os.path.join(self.dir, "cgroup.procs"))

    def _tree_procs(self) -> list[int]:
        return [p for d, _, _ in os.walk(self.dir) for p in read_pids(os.path.join(d, "cgroup.procs"))]

    def stats(self) -> dict[str, int | None]:
        limit = read_text_or(os.path.join(self.dir, "memory.max"), "max").strip()
        cpu = read_keyed(os.path.join(self.dir, "cpu.stat"))
        events = read_keyed(os.path.join(self.dir, "memory.events"))
        return {
            "memory_usage": read_int(os.path.join(self.dir, "memory.current"), 0),
            "memory_limit": None if limit == "max" else int(limit),
            "cpu_usage_ns": cpu.get("usage_usec", 0) * 1000,
            "pids_current": read_int(os.path.join(self.dir, "pids.current"), 0),
            "oom_kills": events.get("oom_kill", 0),
            "cpu_throttled_periods": cpu.get("nr_throttled", 0),
        }

    def kill_all(self, timeout: float = 5.0) -> None:
        if not self.exists():
            return
        kill_file = os.path.join(self.dir, "cgroup.kill")
        if os.path.exists(kill_file):
            # One write, and the kernel kills every process in the subtree, even ones forking now.
            self.sys.write_file(kill_file, "1", why="SIGKILL every process in the cgroup")
        else:
            # Older kernels: freeze so nothing can fork while we signal, then thaw so they die.
            # (A task stuck in the kernel may never freeze: signal anyway after a second.)
            freeze = os.path.join(self.dir, "cgroup.freeze")
            self.sys.write_file(freeze, "1", why="stop forks while we kill")
            try:
                self._poll(lambda: read_keyed(os.path.join(self.dir, "cgroup.events")).get("frozen") == 1,
                           min(timeout, 1.0))
                self._signal_all(self._tree_procs())
            finally:
                self.sys.write_file(freeze, "0", why="thaw so the killed processes can exit")
        self._kill_survivors(timeout)

    def destroy(self, prune: bool = False, timeout: float = 5.0) -> None:
        self._rmdir_tree(self.dir, time.monotonic() + timeout)
        self._remove_parents(self.dir, self.mountpoint, prune)


def read_text_or(path: str, default: str) -> str:
    try:
        return read_text(path)
    except FileNotFoundError:
        return default
