"""`exec`: start one more process inside a running container.

There is no "enter the container" call. A container is a set of namespaces and
a cgroup, so exec is: move into the cgroup, setns() into each of the init's
namespaces (/proc/<init pid>/ns/*), fork once more (a pid namespace only applies
to children), apply the same security settings as the init, and execve:

    runtime ── fork ─ P: joins the cgroup, setns() x N
                        └─ fork ─ E: pid n in the container; user/caps/seccomp; execve
P waits for E and exits with its status, so the runtime's exit code is E's.
"""

from __future__ import annotations

import os
import socket
from typing import Any, NoReturn

from minikube_py.kernel import shim
from minikube_py.kernel.syscalls import Syscalls
from minikube_py.kernel.trace import Tracer
from minikube_py.runtime import resources, security
from minikube_py.runtime.errors import ContainerError
from minikube_py.runtime.init import find_executable, preload
from minikube_py.runtime.state import StateDir

# user first (it grants the rights for the others); mnt last (it changes what paths mean).
JOIN_ORDER = ["user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt"]


def _parse_user(user: str) -> dict[str, int]:
    uid, _, gid = user.partition(":")
    try:
        return {"uid": int(uid), "gid": int(gid or 0)}
    except ValueError:
        raise ContainerError(f"--user {user!r}: give numeric UID[:GID]") from None


def exec_process(config: dict[str, Any], argv: list[str], env: list[str] | None = None,
                 cwd: str | None = None, user: str | None = None, tty: bool = False,
                 process: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OCI process for an exec: the container's own, with these overrides."""
    proc = dict(config["process"])
    if process:
        proc.update(process)
        proc["terminal"] = bool(process.get("terminal"))  # the container's own tty is not the exec's
    else:
        proc["args"] = argv
        proc["terminal"] = tty
        merged = dict(e.split("=", 1) for e in proc.get("env") or [])
        for e in env or []:
            if "=" not in e:
                raise ContainerError(f"--env {e!r}: must be KEY=VALUE")
            key, value = e.split("=", 1)
            merged[key] = value
        proc["env"] = [f"{k}={v}" for k, v in merged.items()]
        if cwd:
            proc["cwd"] = cwd
        if user:
            proc["user"] = {**(proc.get("user") or {}), **_parse_user(user)}
    return proc


def namespace_fds(pid: int) -> list[tuple[str, int]]:
    """Open the init's namespaces that differ from ours (joining our own user ns is EINVAL)."""
    fds = []
    for kind in JOIN_ORDER:
        theirs = f"/proc/{pid}/ns/{kind}"
        try:
            if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{kind}").st_ino:
                continue
            fds.append((kind, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
        except FileNotFoundError:
            continue  # a namespace type this kernel does not have
    return fds


def exec_in(root: str, container_id: str, argv: list[str], env: list[str] | None = None,
            cwd: str | None = None, user: str | None = None, tty: bool = False, detach: bool = False,
            process: dict[str, Any] | None = None, console_socket: str | None = None,
            pid_file: str | None = None) -> int:
    """Run argv in the container; return its exit code (0 once it has started, when detached).

    With a terminal (tty, or "terminal": true in `process`) the pty master goes to
    console_socket (runc's protocol, what containerd uses) or, without one, to us:
    we proxy our stdio to it until the process exits. pid_file gets the new
    process's pid (as the host sees it) once it has called execve.
    """
    st = StateDir(root, container_id)
    record = st.read()
    status = st.status(record)
    if status != "running":
        raise ContainerError(f"cannot exec in container {container_id!r}: it is {status}")
    config = st.config()
    proc = exec_process(config, argv, env, cwd, user, tty, process)
    terminal = bool(proc.get("terminal"))
    if terminal and detach and not console_socket:
        raise ContainerError("exec: --tty with --detach needs --console-socket (nobody would hold the pty)")
    if console_socket and not terminal:
        raise ContainerError("exec: --console-socket is only for a process with a terminal (--tty)")
    program = security.seccomp_program(config)
    preload(config)
    ours = theirs = None
    if terminal:
        if console_socket:
            from minikube_py.runtime import console

            try:
                theirs = console.connect(console_socket)
            except OSError as exc:
                raise ContainerError(f"--console-socket {console_socket}: {exc.strerror}") from None
        else:
            ours, theirs = socket.socketpair()
    tracer = Tracer(st.file("trace.jsonl"))
    sys = Syscalls(tracer)
    sys.note("exec", why="exec: join the running container", argv=proc["args"])
    fds = namespace_fds(record["pid"])
    # P and E -> us: E's pid, or an error if E fails before execve. The pipe is
    # close-on-exec (os.pipe's default), so EOF with a pid and no error means "execve succeeded".
    report_r, report_w = os.pipe()
    p = os.fork()
    if p == 0:
        os.close(report_r)
        if ours:
            ours.close()
        _join_and_run(sys, record["cgroup"], fds, proc, config, program, theirs, detach, report_w)
    os.close(report_w)
    for _, fd in fds:
        os.close(fd)
    tracer.close()
    if theirs:
        theirs.close()
    master = -1
    if ours:
        from minikube_py.runtime import console

        try:
            master = console.receive_master(ours)
        except OSError:
            master = -1
        ours.close()
    pid, error = _read_report(report_r)
    if error or not pid:
        error = error or "the process was not started"
        if detach:
            os.waitpid(p, 0)
            raise ContainerError(f"exec: {error}")
        os.write(2, f"mkpy-runc exec: {error}\n".encode())  # and the exit status is 126
    if pid and pid_file:
        _write_atomic(pid_file, str(pid))
    if master >= 0:
        from minikube_py.runtime import console

        try:
            console.proxy(master)
        finally:
            os.close(master)
    _, status_word = os.waitpid(p, 0)
    code = os.waitstatus_to_exitcode(status_word)
    return 128 - code if code < 0 else code


def _report(fd: int, kind: str, text: str) -> None:
    """One line on the report pipe: "pid N" or "error TEXT" (one write: lines never interleave)."""
    try:
        os.write(fd, f"{kind} {text}".replace("\n", " ").encode()[:4000] + b"\n")
    except OSError:
        pass


def _read_report(fd: int) -> tuple[int, str]:
    """(pid of the new process or 0, error text or "") from the report pipe; reads until EOF."""
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    os.close(fd)
    pid, errors = 0, []
    for line in data.decode(errors="replace").splitlines():
        kind, _, text = line.partition(" ")
        if kind == "pid":
            pid = int(text)
        elif kind == "error":
            errors.append(text)
    return pid, "; ".join(errors)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def _join_and_run(sys: Syscalls, cgroup: str, fds: list[tuple[str, int]], proc: dict[str, Any],
                  config: dict[str, Any], program: bytes | None, tty: socket.socket | None,
                  detach: bool, report: int) -> NoReturn:
    try:
        if resources.available():
            resources.join(cgroup, os.getpid())  # before setns(cgroup): the namespace is rooted there
        for kind, fd in fds:
            sys.setns(fd, shim.NAMESPACE_FLAGS[kind], path=f"/proc/<init>/ns/{kind}",
                      why=f"exec: enter the container's {kind} namespace")
            os.close(fd)
        child = os.fork()
        if child == 0:
            _become(sys, proc, config, program, tty, report)
        _report(report, "pid", str(child))
        os.close(report)
        if tty is not None:
            tty.close()
        if detach:
            # E is re-parented to the caller's subreaper (containerd's shim) or to init.
            os._exit(0)
        _, status_word = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status_word)
        os._exit(128 - code if code < 0 else code)
    except BaseException as exc:  # noqa: BLE001 - a forked child reports and exits, never unwinds
        _report(report, "error", str(exc))
        os._exit(126)


def _become(sys: Syscalls, proc: dict[str, Any], config: dict[str, Any], program: bytes | None,
            tty: socket.socket | None, report: int) -> NoReturn:
    """In the container's pid namespace: the init's restrictions, then execve (init.py, steps 9-15)."""
    try:
        sys.setsid(why="exec: a session of our own (the terminal's owner, if any)")
        if tty is not None:
            from minikube_py.runtime import console

            console.setup_terminal(sys, tty)
        security.set_rlimits(sys, proc)
        nnp = bool(proc.get("noNewPrivileges"))
        if nnp:
            sys.prctl("no_new_privs", 1, why="process.noNewPrivileges")
        else:
            security.load_seccomp(sys, program)
        security.set_identity(sys, proc)
        sys.chdir(proc.get("cwd", "/"), why="process.cwd")
        env = dict(e.split("=", 1) for e in proc.get("env") or [])
        path = find_executable(proc["args"][0], env.get("PATH", "/usr/local/bin:/usr/bin:/bin:/sbin"))
        if nnp:
            security.load_seccomp(sys, program)
        sys.execve(path, proc["args"], env, why="exec: the new process")
    except BaseException as exc:  # noqa: BLE001
        _report(report, "error", str(exc))
        os._exit(126)
    raise AssertionError("unreachable")
