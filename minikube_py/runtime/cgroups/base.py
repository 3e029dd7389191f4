"""The interface both drivers implement, and what they share (paths, writes, waiting).

A cgroup is a directory in a special filesystem. Making the directory makes the
group; writing numbers into its files sets limits; writing a pid into
`cgroup.procs` moves that process in; `rmdir` removes it once it is empty.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from minikube_py.kernel.syscalls import Syscalls
from minikube_py.runtime.cgroups.convert import Write
from minikube_py.runtime.cgroups.errors import CgroupError

STATS_KEYS = ("memory_usage", "memory_limit", "cpu_usage_ns", "pids_current", "oom_kills",
              "cpu_throttled_periods")


def normalize_path(path: str) -> str:
    """cgroupsPath -> "a/b/c", always below the hierarchy root (a leading "/" is optional)."""
    if not isinstance(path, str):
        raise CgroupError(f"cgroupsPath: must be a string, got {path!r}")
    if ":" in path:
        raise CgroupError(f"cgroupsPath: {path!r} looks like a systemd slice path; only cgroupfs "
                          "paths like \"/mkpy/ID\" are supported")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise CgroupError(f"cgroupsPath: {path!r} names the root cgroup; a container needs its own")
    if any(p in (".", "..") for p in parts):
        raise CgroupError(f"cgroupsPath: {path!r} may not contain . or ..")
    return "/".join(parts)


def read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_int(path: str, default: int | None = None) -> int | None:
    try:
        return int(read_text(path).split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return default


def read_keyed(path: str) -> dict[str, int]:
    """Files like memory.events / cpu.stat: one "key value" pair per line."""
    out = {}
    try:
        for line in read_text(path).splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                out[key] = int(value)
    except FileNotFoundError:
        pass
    return out


def read_pids(path: str) -> list[int]:
    try:
        return [int(x) for x in read_text(path).split()]
    except FileNotFoundError:
        return []


def is_live(pid: int) -> bool:
    """True unless the process is gone or a zombie (a zombie holds no resources)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # "pid (comm) S ..." - comm may contain spaces and parentheses, so split after the last ")"
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class Cgroup(ABC):
    """One container's (or pod's) cgroup. `version` is "v1" or "v2"."""

    version = ""

    def __init__(self, path: str, sys: Syscalls | None = None) -> None:
        self.path = normalize_path(path)
        self.sys = sys if sys is not None else Syscalls()
        # directories create() made, in creation order; destroy() removes them (leaf first)
        self.created: list[str] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path}>"

    # -- the interface -------------------------------------------------
    @abstractmethod
    def create(self) -> None:
        """Make the directory (and missing parents). Idempotent."""

    @abstractmethod
    def apply(self, resources: dict[str, Any] | None) -> None:
        """Write an OCI `linux.resources` dict into the cgroup's files."""

    @abstractmethod
    def add_process(self, pid: int) -> None:
        """Move a process (all its threads) into the cgroup."""

    @abstractmethod
    def procs(self) -> list[int]:
        """The pids in this cgroup itself (not its children)."""

    @abstractmethod
    def stats(self) -> dict[str, int | None]:
        """{memory_usage, memory_limit (None = unlimited), cpu_usage_ns, pids_current, oom_kills,
        cpu_throttled_periods}."""

    @abstractmethod
    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the cgroup and its children; return once none is alive."""

    @abstractmethod
    def destroy(self, prune: bool = False, timeout: float = 5.0) -> None:
        """Remove the cgroup (it must hold no live process) and the parents create() made.

        prune=True also removes ancestors on the path that are now empty, stopping at the
        first one still in use: for a process that did not create the cgroup itself (e.g.
        `delete` of a "/mkpy/ID" container). Not under a kubelet's pod cgroup: pruning an
        empty pod cgroup would lose the pod-level limits the kubelet wrote there.
        """

    @abstractmethod
    def exists(self) -> bool:
        """Whether the cgroup directory is there."""

    @abstractmethod
    def directories(self) -> list[str]:
        """The cgroup's directory (v2), or its directory in each hierarchy (v1)."""

    def oom_killed(self) -> bool:
        """Did the kernel's OOM killer kill a process in this cgroup (or a child)?"""
        return (self.stats()["oom_kills"] or 0) > 0

    # -- shared helpers ------------------------------------------------
    def _write(self, directory: str, w: Write) -> None:
        """Perform one planned write; a failure becomes a CgroupError naming the OCI field."""
        target = os.path.join(directory, w.file)
        if not os.path.exists(target):
            if w.fallback is not None:
                self._write(directory, w.fallback)
            elif w.missing_ok:
                self.sys.note("skip", why=f"{w.file} does not exist on this kernel", field=w.field)
            else:
                raise CgroupError(f"{w.field}: this kernel has no {w.file} in {directory} "
                                  f"(is the {w.controller} controller available?)")
            return
        try:
            self.sys.write_file(target, w.value, why=w.field)
        except OSError as exc:
            raise CgroupError(f"{w.field}: writing {w.value!r} to {target} failed: "
                              f"{os.strerror(exc.errno or errno.EIO)}") from exc

    def _mkdirs(self, root: str, rel: str, before_child: Callable[[str], None] | None = None,
                after_create: Callable[[str], None] | None = None) -> None:
        """mkdir each missing level of root/rel, remembering what we made.

        before_child(parent) runs before each level (v2 enables controllers there);
        after_create(path) runs for each directory we made (v1 cpuset copies cpus/mems).
        """
        current = root
        for part in rel.split("/"):
            parent, current = current, os.path.join(current, part)
            if before_child is not None:
                before_child(parent)
            if os.path.isdir(current):
                continue
            try:
                self.sys.mkdir(current, 0o755, why="a cgroup is a directory")
            except OSError as exc:
                raise CgroupError(f"cgroupsPath: cannot create {current}: {exc.strerror}") from exc
            self.created.append(current)
            if after_create is not None:
                after_create(current)

    def _rmdir_tree(self, top: str, deadline: float) -> None:
        """rmdir `top` and every cgroup below it, deepest first."""
        if not os.path.isdir(top):
            return
        children = [os.path.join(d, n) for d, names, _ in os.walk(top) for n in names]
        for path in [*sorted(children, key=lambda p: p.count("/"), reverse=True), top]:
            self._rmdir(path, deadline)

    def _rmdir(self, path: str, deadline: float) -> None:
        while True:
            try:
                self.sys.rmdir(path, why="remove the cgroup")
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                # EBUSY right after the last process died is normal: the kernel finishes
                # its exit asynchronously. Live processes mean the caller forgot kill_all().
                live = [p for p in read_pids(os.path.join(path, "cgroup.procs")) if is_live(p)]
                if exc.errno != errno.EBUSY or live or time.monotonic() > deadline:
                    hint = f" (live processes {live}; call kill_all() first)" if live else ""
                    raise CgroupError(f"cgroupsPath: cannot remove {path}: {exc.strerror}{hint}") from exc
                time.sleep(0.01)

    def _remove_parents(self, leaf: str, root: str, prune: bool) -> None:
        """After the leaf is gone: rmdir the parents we created (or, with prune, any empty one)."""
        parent = os.path.dirname(leaf)
        while parent != root and parent.startswith(root + "/"):
            if not (prune or parent in self.created):
                break
            try:
                self.sys.rmdir(parent, why="remove a now-empty parent cgroup")
            except OSError:
                break  # still used by another cgroup or process: leave it
            parent = os.path.dirname(parent)

    @staticmethod
    def _signal_all(pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    @abstractmethod
    def _tree_procs(self) -> list[int]:
        """Every pid in this cgroup and the cgroups below it."""

    def _kill_survivors(self, timeout: float) -> None:
        """SIGKILL whatever is still alive in the tree, again and again, until nothing is."""
        deadline = time.monotonic() + timeout
        while live := [p for p in self._tree_procs() if is_live(p)]:
            if time.monotonic() > deadline:
                raise CgroupError(f"cgroupsPath: processes {live} in {self.path} survived SIGKILL")
            self._signal_all(live)
            time.sleep(0.005)

    @staticmethod
    def _poll(done: Callable[[], bool], timeout: float) -> bool:
        """Wait until done() (short, growing sleeps); False if the timeout came first."""
        deadline = time.monotonic() + timeout
        delay = 0.001
        while not done():
            if time.monotonic() > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True
