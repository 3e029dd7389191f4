"""Named network namespaces as bind-mounted files, the way `ip netns add` makes them.

A network namespace lives as long as something refers to it: a process inside,
an open file descriptor, or a bind mount of its /proc/<tid>/ns/net file. The
bind mount is what lets a pod's namespace exist before (and after) any of its
containers: the runtime joins it by path (OCI `linux.namespaces[].path`).

Namespaces belong to *threads*: unshare(CLONE_NEWNET) or setns() moves only the
calling thread. So instead of forking (unsafe in a multi-threaded agent), every
"do this inside namespace X" here runs in a short-lived thread that enters X,
does its work and ends; the rest of the process never changes namespace.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

from minikube_py.kernel import shim
from minikube_py.kernel.syscalls import Syscalls
from minikube_py.network.errors import NetworkError

NETNS_DIR = "/run/netns"
NS_GET_NSTYPE = 0xB703  # ioctl on an nsfs file: which kind of namespace is this?
SIOCGSKNS = 0x894C  # ioctl on a socket: an fd for the network namespace it belongs to
NETLINK_ROUTE = 0

T = TypeVar("T")


def netns_path(name: str, netns_dir: str = NETNS_DIR) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise NetworkError(f"netns name {name!r}: must be a plain file name")
    return os.path.join(netns_dir, name)


def is_netns(path: str) -> bool:
    """True when `path` is a bind-mounted network namespace (not just an empty file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE) == shim.CLONE_NEWNET
    except OSError:  # ENOTTY: a regular file, nothing mounted on it
        return False
    finally:
        os.close(fd)


def in_thread(fn: Callable[[], T]) -> T:
    """Run `fn` in a fresh OS thread and return its result (or raise its exception)."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            box["error"] = exc

    t = threading.Thread(target=target, name="mkpy-netns")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def run_in_netns(path: str | None, fn: Callable[[], T], syscalls: Syscalls | None = None) -> T:
    """Call `fn` with the calling *thread* inside the namespace at `path` (None: right here)."""
    if path is None:
        return fn()
    sc = syscalls or Syscalls()

    def enter_and_run() -> T:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NetworkError(f"network namespace {path} does not exist") from None
        try:
            sc.setns(fd, shim.CLONE_NEWNET, why="work inside this network namespace", path=path)
        finally:
            os.close(fd)
        return fn()

    return in_thread(enter_and_run)


def _share_dir(netns_dir: str, sc: Syscalls) -> None:
    """Make the directory a shared mount, as iproute2 does, so that a netns mount made
    or removed here propagates to mount namespaces created later (containers)."""
    os.makedirs(netns_dir, mode=0o755, exist_ok=True)
    try:
        sc.mount(
            "none",
            netns_dir,
            None,
            shim.MS_SHARED | shim.MS_REC,
            why="netns mounts must propagate to and from other mount namespaces",
        )
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        # Not a mount point yet: bind it onto itself first, then share it.
        sc.mount(netns_dir, netns_dir, None, shim.MS_BIND | shim.MS_REC, why="make the netns dir a mount")
        sc.mount("none", netns_dir, None, shim.MS_SHARED | shim.MS_REC, why="share the netns dir")


def create_netns(path: str, syscalls: Syscalls | None = None) -> str:
    """Create a new, empty network namespace kept alive by a bind mount at `path`.

    Raises NetworkError if `path` already exists. Nothing is left behind on failure.
    """
    sc = syscalls or Syscalls()
    _share_dir(os.path.dirname(path) or ".", sc)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    except FileExistsError:
        raise NetworkError(f"network namespace {path} already exists") from None
    os.close(fd)

    def unshare_and_pin() -> None:
        # This thread alone moves into a brand-new namespace; the bind mount keeps
        # the namespace alive after the thread ends.
        sc.unshare(shim.CLONE_NEWNET, why="a new network namespace for this thread only")
        sc.mount(
            "/proc/thread-self/ns/net",
            path,
            None,
            shim.MS_BIND,
            why="pin the namespace to a file so it outlives this thread",
        )

    try:
        in_thread(unshare_and_pin)
    except BaseException:
        os.unlink(path)
        raise
    return path


def delete_netns(path: str, syscalls: Syscalls | None = None) -> None:
    """Unmount and remove a namespace file. Missing is fine (idempotent). The kernel frees
    the namespace, and every interface still inside it, once nothing else refers to it."""
    sc = syscalls or Syscalls()
    if is_netns(path):
        sc.umount2(path, shim.MNT_DETACH, why="drop the file's reference to the namespace")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def nsenter_argv(path: str | None, argv: list[str]) -> list[str]:
    """argv that runs `argv` inside the namespace at `path` (util-linux nsenter calls setns)."""
    if path is None:
        return list(argv)
    return ["nsenter", f"--net={path}", "--", *argv]


def write_sysctl(path: str | None, key: str, value: str, syscalls: Syscalls | None = None) -> None:
    """Set a sysctl of one namespace: /proc/sys/net/* shows the namespace of the thread that opens it."""
    sc = syscalls or Syscalls()
    file = "/proc/sys/" + key.replace(".", "/")
    run_in_netns(path, lambda: sc.write_file(file, value, why=f"sysctl {key}={value}"), sc)


def read_sysctl(path: str | None, key: str) -> str:
    file = "/proc/sys/" + key.replace(".", "/")
    return run_in_netns(path, lambda: open(file).read().strip())


def open_iproute(path: str | None, syscalls: Syscalls | None = None):  # -> pyroute2.IPRoute
    """An rtnetlink socket bound to the namespace at `path` (None: the caller's own).

    A netlink socket talks to the namespace its creating thread was in, for its
    whole life. pyroute2 creates its socket lazily in whichever thread first uses
    it, so the socket is made here, in a thread inside `path`, and handed over by
    fd; then it is checked (SIOCGSKNS) to really be in `path` before any use.
    """
    from pyroute2 import IPRoute  # imported here: ~0.15 s, only paid by callers that need netlink

    if path is None:
        return IPRoute()
    fd = run_in_netns(
        path, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE).detach(), syscalls
    )
    try:
        _check_socket_netns(fd, path)
    except BaseException:
        os.close(fd)
        raise
    ipr = IPRoute(fileno=fd)
    try:
        ipr.link_lookup(ifname="lo")  # makes pyroute2 set its socket up now
        _check_socket_netns(ipr.asyncore.socket.fileno(), path)
    except BaseException:
        ipr.close()
        raise
    return ipr


def _check_socket_netns(fd: int, path: str) -> None:
    """Refuse to go on unless socket `fd` lives in the namespace at `path`: a socket in the
    wrong namespace would change the host's own network."""
    nsfd = fcntl.ioctl(fd, SIOCGSKNS)
    try:
        same = os.fstat(nsfd).st_ino == os.stat(path).st_ino
    finally:
        os.close(nsfd)
    if not same:
        raise NetworkError(f"internal error: netlink socket is not in {path}; refusing to use it")
