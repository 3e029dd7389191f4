"""The container's filesystem: run inside the container's own mount namespace by init.py.

Steps, in runc's order (each one a call on the syscall facade, so it is traced):
  1. make every mount we inherited a slave (nothing we do propagates to the host);
  2. mount the root: the image overlay (mkpy.io/overlay) or a bind of root.path on itself,
     because pivot_root needs the new root to be a mount point;
  3. the config's mounts, in order (proc, sysfs, tmpfs, devpts, mqueue, cgroup, binds);
  4. /dev: default device nodes and the usual symlinks;
  5. pivot_root into the new root and detach the old one;
and, after that, read-only root, readonlyPaths and maskedPaths (see finalize()).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from typing import Any

from minikube_py.kernel import shim
from minikube_py.runtime.errors import ContainerError

# mount(8) option -> (clears the flag?, flag); other options are passed to the filesystem as data.
MOUNT_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, shim.MS_SYNCHRONOUS), "atime": (True, shim.MS_NOATIME),
    "bind": (False, shim.MS_BIND), "defaults": (False, 0), "dev": (True, shim.MS_NODEV),
    "diratime": (True, shim.MS_NODIRATIME), "dirsync": (False, shim.MS_DIRSYNC),
    "exec": (True, shim.MS_NOEXEC), "mand": (False, shim.MS_MANDLOCK),
    "noatime": (False, shim.MS_NOATIME), "nodev": (False, shim.MS_NODEV),
    "nodiratime": (False, shim.MS_NODIRATIME), "noexec": (False, shim.MS_NOEXEC),
    "nomand": (True, shim.MS_MANDLOCK), "norelatime": (True, shim.MS_RELATIME),
    "nostrictatime": (True, shim.MS_STRICTATIME), "nosuid": (False, shim.MS_NOSUID),
    "rbind": (False, shim.MS_BIND | shim.MS_REC), "relatime": (False, shim.MS_RELATIME),
    "remount": (False, shim.MS_REMOUNT), "ro": (False, shim.MS_RDONLY), "rw": (True, shim.MS_RDONLY),
    "strictatime": (False, shim.MS_STRICTATIME), "suid": (True, shim.MS_NOSUID),
    "sync": (False, shim.MS_SYNCHRONOUS),
}
PROPAGATION: dict[str, int] = {
    "private": shim.MS_PRIVATE, "rprivate": shim.MS_PRIVATE | shim.MS_REC,
    "shared": shim.MS_SHARED, "rshared": shim.MS_SHARED | shim.MS_REC,
    "slave": shim.MS_SLAVE, "rslave": shim.MS_SLAVE | shim.MS_REC,
    "unbindable": shim.MS_UNBINDABLE, "runbindable": shim.MS_UNBINDABLE | shim.MS_REC,
}

# The devices every container gets (runtime-spec "Default Devices"): name -> (major, minor).
DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
                   "urandom": (1, 9), "tty": (5, 0)}
DEV_SYMLINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
                "stderr": "/proc/self/fd/2"}


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """mount options -> (flags, propagation flags, data string)."""
    flags, propagation, data = 0, 0, []
    for opt in options:
        if opt in MOUNT_FLAGS:
            clear, bit = MOUNT_FLAGS[opt]
            flags = flags & ~bit if clear else flags | bit
        elif opt in PROPAGATION:
            propagation |= PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, propagation, ",".join(data)


def inside(rootfs: str, path: str) -> str:
    """Host path of a container path. Symlinks in the rootfs are resolved *within* it,
    so a malicious image cannot point a mount at the host (what runc's securejoin does)."""
    current = rootfs
    parts = [p for p in path.split("/") if p and p != "."]
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = os.path.dirname(current) if current != rootfs else rootfs
            continue
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise ContainerError(f"too many symlinks resolving {path!r} in the rootfs")
            link = os.readlink(candidate)
            if link.startswith("/"):
                current = rootfs
            parts = [p for p in link.split("/") if p and p != "."] + parts
            continue
        current = candidate
    return current


def prepare(sys: Any, config: dict[str, Any], sync_hooks: Callable[[], None],
            run_container_hooks: Callable[[], None]) -> None:
    """Everything up to and including pivot_root (steps 1-5 above)."""
    linux = config.get("linux") or {}
    rootfs = config["root"]["path"]
    # 1. Our copy of the host's mounts: by default every one a slave (host mounts still
    # reach us, ours never reach the host); linux.rootfsPropagation replaces that, as in
    # runc ("rshared" is how a bind mount with Bidirectional propagation reaches the host).
    propagation = root_propagation(config)
    sys.mount(None, "/", None, propagation or shim.MS_SLAVE | shim.MS_REC,
              why=("linux.rootfsPropagation" if propagation else "keep our mounts out of the host"))
    # The mount holding the rootfs must not be shared: our bind of the rootfs would show up
    # in its peers (the host's), and pivot_root refuses a new root whose parent is shared.
    parent, shared = mount_point_of(rootfs)
    if shared:
        sys.mount(None, parent, None, shim.MS_PRIVATE, why="the rootfs's parent mount was shared")
    # The file-creation mask would change device node and directory modes; runc clears it too.
    sys.umask(0, why="exact modes while building the rootfs")

    # 2. The root itself.
    overlay = (config.get("annotations") or {}).get("mkpy.io/overlay")
    if overlay:
        layers = json.loads(overlay)
        data = (f"lowerdir={':'.join(layers['lower'])},upperdir={layers['upper']},"
                f"workdir={layers['work']}")
        sys.mount("overlay", rootfs, "overlay", 0, data, why="image layers + this container's upper dir")
    else:
        sys.mount(rootfs, rootfs, None, shim.MS_BIND | shim.MS_REC, why="pivot_root needs a mount point")

    # 3. The config's mounts, in the order given.
    dev_is_tmpfs = False
    for m in config.get("mounts") or []:
        mount_one(sys, rootfs, m)
        if m["destination"] == "/dev" and m.get("type") != "bind":
            dev_is_tmpfs = True

    # 4. /dev contents (only when /dev is our own tmpfs, not a bind of the host's).
    if dev_is_tmpfs:
        make_devices(sys, rootfs, linux.get("devices") or [], user_ns=_has_new_userns(config))

    # createRuntime hooks run in the runtime's namespace (the parent); then createContainer here.
    sync_hooks()
    run_container_hooks()

    # 5. pivot_root: the new root becomes "/" and the old one is detached (runc's "." "." trick:
    # no put_old directory is needed inside the image).
    sys.chdir(rootfs, why="pivot_root into the current directory")
    sys.pivot_root(".", ".", why="the container's root becomes /")
    sys.umount2(".", shim.MNT_DETACH, why="detach the old root (the host's /) from this namespace")
    sys.chdir("/")


def mount_one(sys: Any, rootfs: str, m: dict[str, Any]) -> None:
    options = list(m.get("options") or [])
    kind = m.get("type") or ("bind" if "bind" in options or "rbind" in options else "")
    dest = inside(rootfs, m["destination"])
    flags, propagation, data = parse_options(options)
    source = m.get("source") or kind
    where = f"mount {m['destination']}"
    if kind == "bind" or flags & shim.MS_BIND:
        if not os.path.exists(source):
            raise ContainerError(f"config.json: mounts: {where}: source {source} does not exist")
        _make_target(sys, dest, is_dir=os.path.isdir(source))
        sys.mount(source, dest, None, shim.MS_BIND | (flags & shim.MS_REC), why=where)
        # Other flags (ro, nosuid, ...) only apply to a bind mount through a remount.
        rest = flags & ~(shim.MS_BIND | shim.MS_REC)
        if rest:
            sys.mount(None, dest, None, rest | shim.MS_BIND | shim.MS_REMOUNT, why=where + " (flags)")
    elif kind == "cgroup":
        _make_target(sys, dest, is_dir=True)
        mount_cgroup(sys, dest, flags)
    else:
        _make_target(sys, dest, is_dir=True)
        sys.mount(source, dest, kind, flags, data or None, why=where)
    if propagation:
        sys.mount(None, dest, None, propagation, why=where + " (propagation)")


def mount_cgroup(sys: Any, dest: str, flags: int) -> None:
    """/sys/fs/cgroup for the container: cgroup2 on a unified host, else each v1 hierarchy."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        sys.mount("cgroup", dest, "cgroup2", flags, why="the container's cgroup tree (v2)")
        return
    sys.mount("tmpfs", dest, "tmpfs", flags & ~shim.MS_RDONLY, "mode=755", why="holder for v1 hierarchies")
    with open("/proc/self/cgroup") as f:
        controllers = [line.strip().split(":")[1] for line in f if line.strip()]
    for c in controllers:
        if not c or c.startswith("name="):
            continue
        sys.mkdir(os.path.join(dest, c))
        sys.mount("cgroup", os.path.join(dest, c), "cgroup", flags, c, why=f"cgroup v1 {c} hierarchy")
    if flags & shim.MS_RDONLY:
        sys.mount(None, dest, None, shim.MS_REMOUNT | shim.MS_RDONLY | (flags & ~shim.MS_BIND),
                  why="read-only /sys/fs/cgroup")


def _make_target(sys: Any, path: str, is_dir: bool) -> None:
    if os.path.lexists(path):
        return
    if is_dir:
        sys.mkdir(path)
    else:
        sys.mkdir(os.path.dirname(path))
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _has_new_userns(config: dict[str, Any]) -> bool:
    return any(ns["type"] == "user" and not ns.get("path")
               for ns in (config.get("linux") or {}).get("namespaces") or [])


def make_devices(sys: Any, rootfs: str, devices: list[dict[str, Any]], user_ns: bool) -> None:
    dev = os.path.join(rootfs, "dev")
    wanted = {f"/dev/{name}": ("c", major, minor, 0o666, 0, 0)
              for name, (major, minor) in DEFAULT_DEVICES.items()}
    for d in devices:
        wanted[d["path"]] = (d.get("type", "c"), d["major"], d["minor"], d.get("fileMode", 0o666),
                             d.get("uid", 0), d.get("gid", 0))
    for path, (kind, major, minor, mode, uid, gid) in wanted.items():
        target = inside(rootfs, path)
        if user_ns:
            # mknod is not allowed in a user namespace: bind the host's node instead.
            _make_target(sys, target, is_dir=False)
            sys.mount(path, target, None, shim.MS_BIND, why=f"device {path} (bind, user ns)")
            continue
        kind_bits = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[kind]
        if not os.path.isdir(os.path.dirname(target)):
            sys.mkdir(os.path.dirname(target))
        sys.mknod(target, kind_bits | mode, os.makedev(major, minor), why=f"device {path}")
        os.chown(target, uid, gid)
    for name, target in DEV_SYMLINKS.items():
        sys.symlink(target, os.path.join(dev, name))
    if os.path.exists("/proc/kcore"):
        sys.symlink("/proc/kcore", os.path.join(dev, "core"))
    # /dev/ptmx must be the container's own devpts instance, not the host's.
    ptmx = os.path.join(dev, "ptmx")
    if os.path.isdir(os.path.join(dev, "pts")):
        if os.path.lexists(ptmx):
            os.unlink(ptmx)
        sys.symlink("pts/ptmx", ptmx, why="ptys come from the container's devpts")


def root_propagation(config: dict[str, Any]) -> int:
    """linux.rootfsPropagation as mount flags (0 when not set)."""
    value = (config.get("linux") or {}).get("rootfsPropagation")
    if not value:
        return 0
    if value not in PROPAGATION:
        raise ContainerError(f"config.json: linux.rootfsPropagation: unknown value {value!r}"
                             f" (one of {', '.join(PROPAGATION)})")
    return PROPAGATION[value]


def mount_point_of(path: str) -> tuple[str, bool]:
    """(mount point of the mount that holds `path`, is it shared?) from /proc/self/mountinfo."""
    path = os.path.realpath(path)
    best, shared = "/", False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].replace("\\040", " ")
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                # optional fields (6th on, up to "-") say "shared:N" for a shared mount
                best, shared = point, any(f.startswith("shared:") for f in fields[6:fields.index("-")])
    return best, shared


def finalize(sys: Any, config: dict[str, Any]) -> None:
    """After pivot_root: the root's propagation and read-only flag."""
    propagation = root_propagation(config)
    if propagation:
        # Again on the new "/": the flag of step 1 was set on the host's root, before pivot_root.
        sys.mount(None, "/", None, propagation, why="linux.rootfsPropagation")
    if (config.get("root") or {}).get("readonly"):
        sys.mount(None, "/", None, shim.MS_BIND | shim.MS_REMOUNT | shim.MS_RDONLY, why="root.readonly")


def readonly_paths(sys: Any, paths: list[str]) -> None:
    for path in paths:
        if not os.path.exists(path):
            continue
        sys.mount(path, path, None, shim.MS_BIND | shim.MS_REC, why="readonlyPaths")
        sys.mount(None, path, None, shim.MS_BIND | shim.MS_REMOUNT | shim.MS_RDONLY | shim.MS_REC,
                  why="readonlyPaths")


def masked_paths(sys: Any, paths: list[str]) -> None:
    for path in paths:
        if not os.path.exists(path):
            continue
        if os.path.isdir(path):
            sys.mount("tmpfs", path, "tmpfs", shim.MS_RDONLY, why="maskedPaths: an empty directory")
        else:
            sys.mount("/dev/null", path, None, shim.MS_BIND, why="maskedPaths: reads as empty")
