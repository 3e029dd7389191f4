"""The processes of `create`, and why there are three of them.

    runtime (this CLI, single-threaded)
      └─ fork ─ A: setsid, becomes a *child subreaper*, makes the stdio pipes,
                │  forks B, then execve()s the small C monitor (native/programs/mkpy-monitor.c)
                └─ fork ─ B: joins namespaces given by path (setns), clone()s with the
                          CLONE_NEW* flags, reports the child's pid, and exits
                             └─ C: the container's init (init.py), pid 1 in its pid namespace

When B exits, C is re-parented to the nearest subreaper: A, now the monitor. So the
monitor is the container's parent (it reaps it and records the exit) although it
was never in C's namespaces, and it outlives the runtime CLI that started it.
Why B: only an exiting parent makes C an orphan that the subreaper adopts, and
setns() into a pod's namespaces (the mount namespace above all) would change the
view of whichever process calls it - better a throwaway one than the CLI.

Without our monitor (monitor=False: MKPY_RUNC_MONITOR=none, for containerd) A does
not become a subreaper and simply exits after forking B. C is then adopted by the
caller's subreaper - containerd's shim, which is what the shim expects of runc:
the init is its child to reap, and C writes straight to the stdio the shim gave us.
"""

from __future__ import annotations

import os
import socket
from typing import Any, NamedTuple

from minikube_py.kernel import shim
from minikube_py.runtime import channel, spec
from minikube_py.runtime.errors import ContainerError
from minikube_py.runtime.init import InitContext, container_init, preload

MONITOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin", "mkpy-monitor")

# setns order for namespaces joined by path: the user namespace first (it grants the
# rights for the others), the mount namespace last (it changes what paths mean).
JOIN_ORDER = ["user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount"]


class Spawned(NamedTuple):
    init_pid: int
    monitor_pid: int
    sock: socket.socket  # our end of the channel to the init


def namespace_plan(config: dict[str, Any]) -> tuple[set[str], list[tuple[str, str]]]:
    """(types to make new, [(type, path) to join]) from linux.namespaces."""
    new, join = set(), []
    for ns in spec.namespaces(config):
        if ns.get("path"):
            join.append((ns["type"], ns["path"]))
        else:
            new.add(ns["type"])
    join.sort(key=lambda tp: JOIN_ORDER.index(tp[0]))
    return new, join


def spawn(*, container_id: str, state_dir: str, state_fd: int, config: dict[str, Any], sys: Any,
          log_path: str | None, oom_file: str | None, console: socket.socket | None,
          state: dict[str, Any], monitor: bool = True,
          monitor_console: socket.socket | None = None) -> Spawned:
    """Start A (-> monitor), B and C; return once C exists (blocked, waiting for "go")."""
    if not os.access(MONITOR, os.X_OK):
        raise ContainerError(f"{MONITOR} is missing: build it with `python setup.py build_ext --inplace`")
    new, join = namespace_plan(config)
    preload(config)
    parent_sock, child_sock = channel.pair()
    pid_r, pid_w = os.pipe()  # B -> monitor: the init's pid
    a = os.fork()
    if a == 0:
        if not monitor:
            _process_a_without_monitor(config, sys, new, join, parent_sock, child_sock, pid_r, pid_w,
                                       state_fd, console, state)
        _process_a(container_id, state_dir, state_fd, config, sys, log_path, oom_file, console, state,
                   new, join, parent_sock, child_sock, pid_r, pid_w, monitor_console)
    child_sock.close()
    os.close(pid_r)
    os.close(pid_w)
    try:
        message = channel.receive(parent_sock, "pid")
    except ContainerError:
        parent_sock.close()
        reap(a)
        raise
    return Spawned(init_pid=message["pid"], monitor_pid=a, sock=parent_sock)


def _process_a(container_id: str, state_dir: str, state_fd: int, config: dict[str, Any], sys: Any,
               log_path: str | None, oom_file: str | None, console: socket.socket | None,
               state: dict[str, Any], new: set[str], join: list[tuple[str, str]],
               parent_sock: socket.socket, child_sock: socket.socket, pid_r: int, pid_w: int,
               monitor_console: socket.socket | None) -> None:
    try:
        parent_sock.close()
        sys.setsid(why="monitor: out of the caller's session, so its Ctrl-C or hang-up cannot reach us")
        sys.prctl("child_subreaper", 1, why="monitor: orphans below us (the init, once B exits) become"
                  " our children")
        pipes = log_path is not None
        annotations = config.get("annotations") or {}
        # mkpy.io/stdin: the container gets a stdin pipe whose write end the monitor holds, for
        # `kubectl attach -i` (Kubernetes' `stdin: true`); otherwise stdin is /dev/null. With a
        # terminal held by the monitor, stdin is the terminal: the monitor writes to its master.
        attach_stdin = pipes and annotations.get(spec.STDIN_ANNOTATION) == "true"
        stdin_pipe = attach_stdin and monitor_console is None
        if pipes:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            in_r, in_w = os.pipe() if stdin_pipe else (os.open("/dev/null", os.O_RDONLY), -1)
        b = os.fork()
        if b == 0:
            os.close(pid_r)
            if pipes:
                os.close(out_r)
                os.close(err_r)
                if in_w >= 0:
                    os.close(in_w)
                os.dup2(in_r, 0)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                for fd in (in_r, out_w, err_w):
                    os.close(fd)
            _process_b(config, sys, new, join, child_sock, pid_w, state_fd, console, state)
        # A: hand over to the monitor. It keeps only the read ends it needs.
        os.close(pid_w)
        child_sock.close()
        argv = [MONITOR, "--id", container_id, "--state-dir", state_dir, "--pid-fd", str(pid_r)]
        keep = [pid_r]
        if pipes:
            os.close(out_w)
            os.close(err_w)
            os.close(in_r)
            argv += ["--stdout-fd", str(out_r), "--stderr-fd", str(err_r), "--log", log_path]
            keep += [out_r, err_r]
            if in_w >= 0:
                argv += ["--stdin-fd", str(in_w)]
                keep.append(in_w)
            if attach_stdin:
                once = annotations.get(spec.STDIN_ONCE_ANNOTATION) == "true"
                argv += ["--attach-socket", spec.ATTACH_SOCKET, "--stdin-once", str(int(once))]
        if monitor_console is not None:
            # The init sends the pty master here; the monitor logs it and feeds it attach stdin.
            argv += ["--console-fd", str(monitor_console.fileno())]
            keep.append(monitor_console.fileno())
        if oom_file:
            argv += ["--oom-file", oom_file]
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)  # never hold the caller's pipes open
        for fd in keep:
            os.set_inheritable(fd, True)
        sys.note("execve", why="process A becomes the C monitor (the subreaper flag survives execve)",
                 path=MONITOR)
        os.execv(MONITOR, argv)
    finally:
        os._exit(127)


def _process_a_without_monitor(config: dict[str, Any], sys: Any, new: set[str], join: list[tuple[str, str]],
                               parent_sock: socket.socket, child_sock: socket.socket, pid_r: int, pid_w: int,
                               state_fd: int, console: socket.socket | None, state: dict[str, Any]) -> None:
    """A when the caller is the monitor: fork B with our stdio as it is, and exit."""
    try:
        parent_sock.close()
        os.close(pid_r)
        os.close(pid_w)
        sys.note("no-monitor", why="MKPY_RUNC_MONITOR=none: the caller's subreaper adopts the init")
        if os.fork() == 0:
            _process_b(config, sys, new, join, child_sock, -1, state_fd, console, state)
    finally:
        os._exit(0)


def _process_b(config: dict[str, Any], sys: Any, new: set[str], join: list[tuple[str, str]],
               child_sock: socket.socket, pid_w: int, state_fd: int, console: socket.socket | None,
               state: dict[str, Any]) -> None:
    try:
        for kind, path in join:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            sys.setns(fd, shim.NAMESPACE_FLAGS[kind], path=path, why=f"join the {kind} namespace")
            os.close(fd)
        if "time" in new:
            # clone() has no bit left for CLONE_NEWTIME; unshare makes our children enter one.
            sys.unshare(shim.CLONE_NEWTIME, why="new time namespace for the init")
            # Offsets can only be set before the first process enters the namespace.
            for clock, offset in ((config.get("linux") or {}).get("timeOffsets") or {}).items():
                sys.write_file("/proc/self/timens_offsets",
                               f"{clock} {offset.get('secs', 0)} {offset.get('nanosecs', 0)}",
                               why=f"linux.timeOffsets.{clock}")
        flags = 0
        for kind in new - {"cgroup", "time"}:  # cgroup: unshared by the init once in its cgroup
            flags |= shim.NAMESPACE_FLAGS[kind]
        pid = sys.clone(flags, why="the container's init, in its new namespaces")
        if pid == 0:
            if pid_w >= 0:
                os.close(pid_w)
            container_init(InitContext(config=config, sock=child_sock, state_fd=state_fd, sys=sys,
                                       new_namespaces=new, console=console, state=state))
        if pid_w >= 0:
            os.write(pid_w, f"{pid}\n".encode())
        channel.send(child_sock, "pid", pid=pid)
        os._exit(0)
    except BaseException as exc:  # noqa: BLE001 - report to the runtime, never unwind
        try:
            channel.send(child_sock, "error", message=f"{exc}")
        finally:
            os._exit(1)


def reap(pid: int, timeout: float = 10.0) -> None:
    """Wait for a child (the monitor) to exit, at most `timeout` seconds."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
