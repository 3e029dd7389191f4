"""The container's init: what the cloned process does between clone() and execve().

Read `container_init` top to bottom: it is the whole sequence, in the order of
runc's standard init (libcontainer/standard_init_linux.go). The process is
already in its new namespaces (process.py cloned it); it is pid 1 in its pid
namespace, and it still runs the runtime's Python code, so every step below is
a call on the syscall facade and appears in `mkpy runtime trace ID`.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass, field
from typing import Any, NoReturn

from minikube_py.kernel import shim
from minikube_py.runtime import channel, hooks, rootfs, security
from minikube_py.runtime.errors import ContainerError


@dataclass
class InitContext:
    config: dict[str, Any]
    sock: socket.socket                  # typed messages to and from the runtime (channel.py)
    state_fd: int                        # the state dir: exec.fifo is opened relative to it
    sys: Any                             # the syscall facade (traced)
    new_namespaces: set[str] = field(default_factory=set)  # OCI types this container made
    console: socket.socket | None = None  # --console-socket, when process.terminal is true
    state: dict[str, Any] = field(default_factory=dict)    # OCI state, for the hooks


def container_init(ctx: InitContext) -> NoReturn:
    """Set the container up, wait for `start`, then become the user's process. Never returns."""
    ready = False
    try:
        config, sys = ctx.config, ctx.sys
        process, linux = config["process"], config.get("linux") or {}

        # 0. Wait until the runtime has moved us into the cgroup and written the uid/gid maps.
        go = channel.receive(ctx.sock, "go", timeout=None)
        ctx.state["pid"] = go["pid"]  # our pid as the host sees it, for the hooks' state
        if "user" in ctx.new_namespaces:
            # Our host uid (0) has no mapping in the new user namespace: become its root,
            # or files we create would belong to "overflow" ids (EOVERFLOW).
            sys.setresgid(0, why="root of the new user namespace")
            sys.setresuid(0, why="root of the new user namespace")
        if "cgroup" in ctx.new_namespaces:
            # Now, not at clone(): our cgroup becomes the root of the new cgroup namespace.
            sys.unshare(shim.CLONE_NEWCGROUP, why="cgroup namespace rooted at the container's cgroup")
        sys.setsid(why="a session of our own (and the terminal's owner, if any)")

        # 1. Limits the kernel applies to this process and everything it starts.
        security.set_rlimits(sys, process)
        if process.get("oomScoreAdj") is not None:
            sys.write_file("/proc/self/oom_score_adj", str(process["oomScoreAdj"]),
                           why="process.oomScoreAdj")

        # 2. Network: a new network namespace has only a down loopback; the pod's
        # interfaces come from CNI, which joins the namespace from outside.
        if "network" in ctx.new_namespaces:
            sys.link_up("lo", why="loopback in the new network namespace")

        # 3. The root filesystem, up to and including pivot_root (rootfs.py).
        def sync_hooks() -> None:
            if any((config.get("hooks") or {}).get(s) for s in ("prestart", "createRuntime")):
                channel.send(ctx.sock, "hooks", stage="createRuntime")
                channel.receive(ctx.sock, "go", timeout=None)

        rootfs.prepare(sys, config, sync_hooks,
                       lambda: hooks.run("createContainer", config, ctx.state))

        # 4. The terminal, from the container's own /dev/pts.
        if process.get("terminal"):
            if ctx.console is None:
                raise ContainerError("process.terminal is true but no --console-socket was given")
            from minikube_py.runtime import console

            console.setup_terminal(sys, ctx.console)

        # 5. Finish the filesystem: root propagation and read-only root.
        rootfs.finalize(sys, config)

        # 6. Names.
        if config.get("hostname"):
            sys.sethostname(config["hostname"], why="hostname (UTS namespace)")
        if config.get("domainname"):
            sys.setdomainname(config["domainname"], why="domainname")

        # 7. Kernel parameters of our namespaces, while /proc/sys is still writable.
        for name, value in (linux.get("sysctl") or {}).items():
            sys.write_file("/proc/sys/" + name.replace(".", "/"), value, why=f"linux.sysctl {name}")

        # 8. Paths a container must not write or see.
        rootfs.readonly_paths(sys, linux.get("readonlyPaths") or [])
        rootfs.masked_paths(sys, linux.get("maskedPaths") or [])

        # 9. No privilege gain through setuid binaries or file capabilities from here on.
        nnp = bool(process.get("noNewPrivileges"))
        if nnp:
            sys.prctl("no_new_privs", 1, why="process.noNewPrivileges")

        # 10. Seccomp now if it needs CAP_SYS_ADMIN (no no_new_privs), else just before execve.
        program = security.seccomp_program(config)
        if not nnp:
            security.load_seccomp(sys, program)

        # 11. Who we are: groups, gid, uid, capabilities.
        security.set_identity(sys, process)

        # 12. umask and working directory of the user's process.
        sys.umask((process.get("user") or {}).get("umask", 0o022), why="process.user.umask")
        sys.chdir(process.get("cwd", "/"), why="process.cwd")

        # 13. Find the program now, so a typo fails `create`, not `start`.
        env = dict(e.split("=", 1) for e in process.get("env") or [])
        path = find_executable(process["args"][0], env.get("PATH", "/usr/local/sbin:/usr/local/bin:"
                                                                "/usr/sbin:/usr/bin:/sbin:/bin"))

        # 14. Tell the runtime we are ready; `create` returns. Then block until `start`
        # opens the exec FIFO for reading (runc's create/start split).
        channel.send(ctx.sock, "ready")
        ready = True
        ctx.sock.close()
        fifo = os.open("exec.fifo", os.O_WRONLY | os.O_CLOEXEC, dir_fd=ctx.state_fd)
        sys.note("open", why="blocked until `start` opens the exec FIFO", path="exec.fifo")
        os.write(fifo, b"0")
        os.close(fifo)
        os.close(ctx.state_fd)

        # 15. Released: the startContainer hooks, the late seccomp filter, and the user's program.
        hooks.run("startContainer", config, ctx.state)
        if nnp:
            security.load_seccomp(sys, program)
        sys.execve(path, process["args"], env, why="become the container's process")
    except BaseException as exc:  # noqa: BLE001 - the init must report, never unwind into the runtime
        message = str(exc) if isinstance(exc, ContainerError) else f"container init: {exc}{_where(exc)}"
        if not ready:
            try:
                channel.send(ctx.sock, "error", message=message)
            except OSError:
                pass
        else:
            os.write(2, f"mkpy init: {message}\n".encode())
        os._exit(127)
    raise AssertionError("unreachable")


def _where(exc: BaseException) -> str:
    """" (at rootfs.py:120)" - the last line of the runtime's code the error went through."""
    tb, last = exc.__traceback__, None
    while tb is not None:
        if "minikube_py" in tb.tb_frame.f_code.co_filename:
            last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    name = last.tb_frame.f_code.co_filename.split("minikube_py/", 1)[-1]
    return f" (at minikube_py/{name}:{last.tb_lineno})"


def preload(config: dict[str, Any]) -> None:
    """Import now everything the init (or an exec) may need after pivot_root/setns.

    Once the process is in the container's mount namespace, the runtime's own files
    are out of sight: a lazy `import` there fails with ModuleNotFoundError.
    """
    import fcntl  # noqa: F401
    import resource  # noqa: F401
    import struct  # noqa: F401
    import termios  # noqa: F401

    import prctl  # noqa: F401

    from minikube_py.runtime import capabilities, console, rlimits  # noqa: F401

    if (config.get("linux") or {}).get("seccomp"):
        from minikube_py.runtime import seccomp  # noqa: F401
    if config.get("hooks"):
        import subprocess  # noqa: F401


def find_executable(name: str, search_path: str) -> str:
    """$PATH lookup inside the container, as execvp would do it (the error names the program)."""
    if "/" in name:
        if os.access(name, os.X_OK) and not os.path.isdir(name):
            return name
        raise ContainerError(f"process.args[0]: {name!r}: no such executable in the container")
    found = shutil.which(name, path=search_path)
    if found is None:
        raise ContainerError(f"process.args[0]: {name!r}: executable file not found in $PATH")
    return found
