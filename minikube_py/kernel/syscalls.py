"""The syscall facade: one object whose methods are the kernel calls the project makes.

Code above this layer takes a `Syscalls` and calls e.g. `sys.pivot_root(...)`;
it never calls the shim or `os` for namespace, mount or identity work directly.
That gives two things:
  * unit tests pass a `FakeSyscalls` (fake.py) and check the calls, no root needed;
  * every real call is recorded in a Tracer with the file:line that made it,
    which is the narrative `mkpy runtime trace` shows a student.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from minikube_py.kernel.trace import TraceEntry, Tracer, caller_location


class Syscalls:
    """The real kernel. Each method performs one call and records it."""

    def __init__(self, tracer: Tracer | None = None) -> None:
        self.tracer = tracer

    # -- recording -------------------------------------------------------
    def _do(self, call: str, fn: Callable[[], Any], why: str = "", **args: object) -> Any:
        entry = TraceEntry(call=call, args=args, where=caller_location(), why=why)
        try:
            result = fn()
        except OSError as exc:
            entry.error = str(exc)
            if self.tracer:
                self.tracer.record(entry)
            raise
        # After a clone both processes return here; only the parent (result != 0) records it.
        if self.tracer and not (call == "clone" and result == 0):
            entry.pid = os.getpid()
            self.tracer.record(entry)
        return result

    def note(self, call: str, why: str = "", **args: object) -> None:
        """Record a step that is not a single syscall (e.g. a decision), for the narrative."""
        if self.tracer:
            self.tracer.record(TraceEntry(call=call, args=args, where=caller_location(), why=why))

    # -- namespaces ------------------------------------------------------
    def clone(self, flags: int, why: str = "") -> int:
        from minikube_py.kernel import shim

        return self._do("clone", lambda: shim.clone(flags), why, flags=flag_names(flags))

    def unshare(self, flags: int, why: str = "") -> None:
        from minikube_py.kernel import shim

        self._do("unshare", lambda: shim.unshare(flags), why, flags=flag_names(flags))

    def setns(self, fd: int, nstype: int = 0, why: str = "", path: str = "") -> None:
        from minikube_py.kernel import shim

        self._do("setns", lambda: shim.setns(fd, nstype), why, path=path or fd, nstype=flag_names(nstype))

    # -- filesystems -----------------------------------------------------
    def mount(
        self,
        source: str | None,
        target: str,
        fstype: str | None = None,
        flags: int = 0,
        data: str | None = None,
        why: str = "",
    ) -> None:
        from minikube_py.kernel import shim

        self._do(
            "mount",
            lambda: shim.mount(source, target, fstype, flags, data),
            why,
            source=source,
            target=target,
            fstype=fstype,
            flags=mount_flag_names(flags),
            data=data,
        )

    def umount2(self, target: str, flags: int = 0, why: str = "") -> None:
        from minikube_py.kernel import shim

        self._do("umount2", lambda: shim.umount2(target, flags), why, target=target, flags=flags)

    def pivot_root(self, new_root: str, put_old: str, why: str = "") -> None:
        from minikube_py.kernel import shim

        self._do(
            "pivot_root", lambda: shim.pivot_root(new_root, put_old), why, new_root=new_root, put_old=put_old
        )

    def chdir(self, path: str, why: str = "") -> None:
        self._do("chdir", lambda: os.chdir(path), why, path=path)

    def mkdir(self, path: str, mode: int = 0o755, why: str = "") -> None:
        self._do("mkdir", lambda: os.makedirs(path, mode, exist_ok=True), why, path=path, mode=oct(mode))

    def rmdir(self, path: str, why: str = "") -> None:
        """Remove an empty directory (for a cgroup: one with no processes and no children)."""
        self._do("rmdir", lambda: os.rmdir(path), why, path=path)

    def mknod(self, path: str, mode: int, device: int, why: str = "") -> None:
        self._do(
            "mknod",
            lambda: os.mknod(path, mode, device),
            why,
            path=path,
            mode=oct(mode),
            major=os.major(device),
            minor=os.minor(device),
        )

    def symlink(self, target: str, path: str, why: str = "") -> None:
        self._do("symlink", lambda: os.symlink(target, path), why, target=target, path=path)

    def write_file(self, path: str, data: str, why: str = "") -> None:
        """Write a value into a kernel file (cgroup knobs, /proc/self/uid_map, sysctls)."""

        def write() -> None:
            with open(path, "w") as f:
                f.write(data)

        self._do("write", write, why, path=path, value=data)

    # -- identity --------------------------------------------------------
    def sethostname(self, name: str, why: str = "") -> None:
        from minikube_py.kernel import shim

        self._do("sethostname", lambda: shim.sethostname(name), why, name=name)

    def setdomainname(self, name: str, why: str = "") -> None:
        from minikube_py.kernel import shim

        self._do("setdomainname", lambda: shim.setdomainname(name), why, name=name)

    def seccomp_set_filter(self, program: bytes, flags: int = 0, why: str = "") -> None:
        from minikube_py.kernel import shim

        self._do(
            "seccomp",
            lambda: shim.seccomp_set_filter(program, flags),
            why,
            instructions=len(program) // 8,
            flags=flags,
        )

    def setgroups(self, gids: list[int], why: str = "") -> None:
        self._do("setgroups", lambda: os.setgroups(gids), why, gids=gids)

    def setresgid(self, gid: int, why: str = "") -> None:
        self._do("setresgid", lambda: os.setresgid(gid, gid, gid), why, gid=gid)

    def setresuid(self, uid: int, why: str = "") -> None:
        self._do("setresuid", lambda: os.setresuid(uid, uid, uid), why, uid=uid)

    def umask(self, mask: int, why: str = "") -> None:
        self._do("umask", lambda: os.umask(mask), why, mask=oct(mask))

    def setsid(self, why: str = "") -> None:
        self._do("setsid", os.setsid, why)

    def setrlimit(self, resource: str, soft: int, hard: int, why: str = "") -> None:
        """`resource` is the OCI name, e.g. RLIMIT_NOFILE."""
        import resource as _resource

        num = getattr(_resource, resource)
        self._do("setrlimit", lambda: _resource.setrlimit(num, (soft, hard)), why,
                 resource=resource, soft=soft, hard=hard)

    def prctl(self, option: str, value: int = 1, why: str = "") -> None:
        """prctl(2) through python-prctl; `option` is its attribute name, e.g. "no_new_privs"."""
        import prctl as _prctl

        self._do("prctl", lambda: getattr(_prctl, f"set_{option}")(value), why,
                 option=f"PR_SET_{option.upper()}", value=value)

    def link_up(self, name: str = "lo", why: str = "") -> None:
        """Set a network interface up (SIOCSIFFLAGS on a socket; netlink is overkill for lo)."""
        self._do("ioctl", lambda: _set_link_up(name), why, request="SIOCSIFFLAGS", ifname=name,
                 flags="IFF_UP")

    def execve(self, path: str, argv: list[str], env: dict[str, str], why: str = "") -> None:
        # Recorded before the call: on success execve never returns.
        self.note("execve", why, path=path, argv=argv)
        os.execve(path, argv, env)


def flag_names(flags: int) -> str:
    """CLONE_NEWPID|CLONE_NEWNS style text for a namespace flag set (for the trace)."""
    from minikube_py.kernel import shim

    names = [f"CLONE_NEW{n.upper()}" for n, bit in _unique(shim.NAMESPACE_FLAGS) if flags & bit]
    return "|".join(names) or hex(flags)


def mount_flag_names(flags: int) -> str:
    from minikube_py.kernel import shim

    names = [
        n
        for n in dir(shim)
        if n.startswith("MS_") and getattr(shim, n) & flags and bin(getattr(shim, n)).count("1") == 1
    ]
    return "|".join(sorted(names, key=lambda n: getattr(shim, n))) or "0"


def _unique(table: dict[str, int]) -> list[tuple[str, int]]:
    seen: dict[int, str] = {}
    for name, bit in table.items():
        seen.setdefault(bit, {"mnt": "ns"}.get(name, name))
    return [(name, bit) for bit, name in seen.items()]


def _set_link_up(name: str) -> None:
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", name.encode(), 0)
        flags = struct.unpack_from("16sh", fcntl.ioctl(s, siocgifflags, req + bytes(22)))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sh", name.encode(), flags | iff_up) + bytes(22))
