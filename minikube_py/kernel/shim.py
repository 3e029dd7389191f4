"""Python face of the native shim (native/shim.c, built by cffi in API mode).

Each function calls exactly one C wrapper and turns a failure into an OSError
whose message names the system call and its arguments, e.g.
    OSError: [Errno 22] Invalid argument: pivot_root(new_root='/x', put_old='/x/old')
"""

from __future__ import annotations

import errno as _errno
import os

from minikube_py import _shim  # built from native/shim.c; see native/build_shim.py

ffi, lib = _shim.ffi, _shim.lib

# Kernel constants, read from the C headers at build time.
CLONE_NEWNS = lib.CLONE_NEWNS
CLONE_NEWUTS = lib.CLONE_NEWUTS
CLONE_NEWIPC = lib.CLONE_NEWIPC
CLONE_NEWPID = lib.CLONE_NEWPID
CLONE_NEWNET = lib.CLONE_NEWNET
CLONE_NEWUSER = lib.CLONE_NEWUSER
CLONE_NEWCGROUP = lib.CLONE_NEWCGROUP
CLONE_NEWTIME = lib.CLONE_NEWTIME

MS_RDONLY = lib.MS_RDONLY
MS_NOSUID = lib.MS_NOSUID
MS_NODEV = lib.MS_NODEV
MS_NOEXEC = lib.MS_NOEXEC
MS_SYNCHRONOUS = lib.MS_SYNCHRONOUS
MS_REMOUNT = lib.MS_REMOUNT
MS_MANDLOCK = lib.MS_MANDLOCK
MS_DIRSYNC = lib.MS_DIRSYNC
MS_NOATIME = lib.MS_NOATIME
MS_NODIRATIME = lib.MS_NODIRATIME
MS_BIND = lib.MS_BIND
MS_MOVE = lib.MS_MOVE
MS_REC = lib.MS_REC
MS_SILENT = lib.MS_SILENT
MS_UNBINDABLE = lib.MS_UNBINDABLE
MS_PRIVATE = lib.MS_PRIVATE
MS_SLAVE = lib.MS_SLAVE
MS_SHARED = lib.MS_SHARED
MS_RELATIME = lib.MS_RELATIME
MS_STRICTATIME = lib.MS_STRICTATIME
MS_LAZYTIME = lib.MS_LAZYTIME

MNT_FORCE = lib.MNT_FORCE
MNT_DETACH = lib.MNT_DETACH
MNT_EXPIRE = lib.MNT_EXPIRE
UMOUNT_NOFOLLOW = lib.UMOUNT_NOFOLLOW

SECCOMP_FILTER_FLAG_TSYNC = lib.SECCOMP_FILTER_FLAG_TSYNC
SECCOMP_FILTER_FLAG_LOG = lib.SECCOMP_FILTER_FLAG_LOG

# Namespace type name (as in /proc/PID/ns/<name> and the OCI spec) -> CLONE_* flag.
NAMESPACE_FLAGS = {
    "mnt": CLONE_NEWNS,
    "mount": CLONE_NEWNS,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "pid": CLONE_NEWPID,
    "net": CLONE_NEWNET,
    "network": CLONE_NEWNET,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}


def _fail(call: str, **args: object) -> OSError:
    err = ffi.errno or _errno.EIO
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return OSError(err, f"{os.strerror(err)}: {call}({shown})")


def _c(s: str | None) -> bytes | object:
    return ffi.NULL if s is None else os.fsencode(s)


def clone(flags: int) -> int:
    """Fork into new namespaces. Returns 0 in the child and the child's pid in the parent."""
    pid = lib.mkpy_clone(flags)
    if pid < 0:
        raise _fail("clone", flags=hex(flags))
    return pid


def unshare(flags: int) -> None:
    if lib.mkpy_unshare(flags) != 0:
        raise _fail("unshare", flags=hex(flags))


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace that `fd` (an open /proc/PID/ns/* or bind-mounted file) refers to."""
    if lib.mkpy_setns(fd, nstype) != 0:
        raise _fail("setns", fd=fd, nstype=hex(nstype))


def pivot_root(new_root: str, put_old: str) -> None:
    if lib.mkpy_pivot_root(_c(new_root), _c(put_old)) != 0:
        raise _fail("pivot_root", new_root=new_root, put_old=put_old)


def mount(
    source: str | None, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None
) -> None:
    if lib.mkpy_mount(_c(source), _c(target), _c(fstype), flags, _c(data)) != 0:
        raise _fail("mount", source=source, target=target, fstype=fstype, flags=hex(flags), data=data)


def umount2(target: str, flags: int = 0) -> None:
    if lib.mkpy_umount2(_c(target), flags) != 0:
        raise _fail("umount2", target=target, flags=hex(flags))


def sethostname(name: str) -> None:
    raw = name.encode()
    if lib.mkpy_sethostname(raw, len(raw)) != 0:
        raise _fail("sethostname", name=name)


def setdomainname(name: str) -> None:
    raw = name.encode()
    if lib.mkpy_setdomainname(raw, len(raw)) != 0:
        raise _fail("setdomainname", name=name)


def seccomp_set_filter(program: bytes, flags: int = 0) -> None:
    """Load a classic-BPF program (packed struct sock_filter entries, 8 bytes each)."""
    if len(program) % 8:
        raise ValueError("seccomp program length must be a multiple of 8 bytes")
    buf = ffi.from_buffer(program)
    if lib.mkpy_seccomp_set_filter(flags, len(program) // 8, buf) != 0:
        raise _fail("seccomp", flags=hex(flags), instructions=len(program) // 8)
