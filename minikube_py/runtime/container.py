"""The runtime's Python API: create, start, state, kill, delete, run, list, ps.

`Runtime(root)` is what the CLI (cli.py) calls; it must be used from a
single-threaded process, because create forks and keeps running Python in the
children (a multi-threaded caller, like the kubelet, uses client.RuntimeClient,
which runs the CLI instead). The state of every container is in files under
`root` (state.py), so any process can ask about any container.
"""

from __future__ import annotations

import json
import os
import signal
from typing import TYPE_CHECKING, Any

from minikube_py.kernel.syscalls import Syscalls
from minikube_py.kernel.trace import Tracer
from minikube_py.runtime import resources, spec
from minikube_py.runtime.errors import ContainerError
from minikube_py.runtime.state import (
    DEFAULT_ROOT,
    StateDir,
    list_ids,
    now_rfc3339,
    pid_is,
    pid_start_time,
    wait_gone,
)

if TYPE_CHECKING:
    import socket

    from minikube_py.runtime import process

# create's own modules (process, channel, security: the forks, the init, cffi, socket)
# are imported inside create: start, state, kill and delete are separate runs of the
# CLI, and each would otherwise pay ~5 ms importing code it never calls.


def parse_signal(value: str | int) -> int:
    """"TERM", "SIGTERM", "15" or 15 -> 15."""
    text = str(value).strip().upper()
    if text.isdigit():
        number = int(text)
        if not 0 < number < signal.NSIG:
            raise ContainerError(f"signal: {value!r} is out of range")
        return number
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ContainerError(f"signal: unknown signal {value!r}") from None


class Runtime:
    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = root

    def _dir(self, container_id: str) -> StateDir:
        return StateDir(self.root, container_id)

    # ------------------------------------------------------------------ create
    def create(self, container_id: str, bundle: str, pid_file: str | None = None,
               console_socket: str | None = None, attach: bool = False,
               console_peer: socket.socket | None = None) -> dict[str, Any]:
        """Build the container and leave its init blocked before execve; return the OCI state.

        attach=True gives the container this process's stdio (like `runc run`)
        instead of pipes to the monitor's log. console_peer: with attach, one end of
        a socketpair the init sends its pty master over when process.terminal is true
        (run() proxies it), instead of a --console-socket path.
        """
        from minikube_py.runtime import channel, process, security

        st = self._dir(container_id)
        bundle = os.path.abspath(bundle)
        config = spec.load(bundle)
        security.check(config)
        # mkpy.io/console=monitor: the monitor holds the terminal instead of a --console-socket listener.
        wants_monitor = (config.get("annotations") or {}).get(spec.CONSOLE_ANNOTATION) == spec.CONSOLE_MONITOR
        monitor_tty = bool(config["process"].get("terminal") and not console_socket and not attach
                           and wants_monitor)
        if (config["process"].get("terminal") and not console_socket and not (attach and console_peer)
                and not monitor_tty):
            raise ContainerError("process.terminal is true: --console-socket is required")
        os.makedirs(self.root, 0o711, exist_ok=True)
        try:
            os.mkdir(st.path, 0o711)
        except FileExistsError:
            raise ContainerError(f"container {container_id!r} already exists") from None
        os.chmod(st.path, 0o711)  # the init may run as another uid and must reach exec.fifo

        spawned: process.Spawned | None = None
        cgroup = resources.cgroup_path(config, container_id)
        cgroup_made: list[str] = []  # directories resources.setup made
        tracer = None
        console = monitor_console = None
        state_fd = -1
        try:
            _mark_fds_cloexec()
            # config.json may hold secrets (env): only root reads it, and the trace likewise.
            for name in ("config.json", "trace.jsonl"):
                os.close(os.open(st.file(name), os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            with open(st.file("config.json"), "w") as f:
                json.dump(config, f)
            # Any uid may open the FIFO: the init may already be a non-root user when it does.
            os.mkfifo(st.file("exec.fifo"), 0o622)
            os.chmod(st.file("exec.fifo"), 0o622)
            tracer = Tracer(st.file("trace.jsonl"))
            sys = Syscalls(tracer)
            annotations = config.get("annotations") or {}
            # MKPY_RUNC_MONITOR=none: the caller (containerd's shim) is the monitor, as for runc:
            # no mkpy-monitor, no log; the init keeps our stdio and is adopted by the caller.
            monitor = attach or os.environ.get("MKPY_RUNC_MONITOR", "mkpy") != "none"
            log_path = None if attach or not monitor else (annotations.get("mkpy.io/log-path")
                                                           or st.file("container.log"))
            if log_path:
                os.makedirs(os.path.dirname(log_path), exist_ok=True)
            if console_socket:
                console = _connect_console(console_socket)
            elif console_peer is not None and config["process"].get("terminal"):
                console = console_peer
            elif monitor_tty:  # the init sends the master over one end, the monitor receives it on the other
                import socket  # here, not at the top: mkpy-runc's start-up pays for every import

                console, monitor_console = socket.socketpair()
            state_fd = os.open(st.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            record: dict[str, Any] = {
                "id": container_id, "bundle": bundle, "annotations": annotations,
                "created": now_rfc3339(), "cgroup": cgroup, "log_path": log_path,
                "rootfs": config["root"]["path"],
            }
            hook_state = {"ociVersion": spec.OCI_VERSION, "id": container_id, "status": "creating",
                          "bundle": bundle, "annotations": annotations}
            spawned = process.spawn(container_id=container_id, state_dir=st.path, state_fd=state_fd,
                                    config=config, sys=sys, log_path=log_path,
                                    oom_file=resources.oom_events_file(cgroup), console=console,
                                    state=hook_state, monitor=monitor, monitor_console=monitor_console)
            pid = spawned.init_pid
            record.update(pid=pid, pid_start_time=pid_start_time(pid), monitor_pid=spawned.monitor_pid,
                          monitor_start_time=pid_start_time(spawned.monitor_pid))
            if not monitor:
                process.reap(spawned.monitor_pid)  # A exits at once: there is no monitor to wait for
                record.update(monitor_pid=0, monitor_start_time=None)
            hook_state["pid"] = pid

            # The init waits for "go": first its cgroup and, for a user namespace, its id maps.
            resources.setup(cgroup, (config.get("linux") or {}).get("resources"), pid, sys, cgroup_made)
            new, _ = process.namespace_plan(config)
            if "user" in new:
                _write_id_maps(sys, pid, config["linux"])
            channel.send(spawned.sock, "go", pid=pid)
            while True:
                message = channel.receive(spawned.sock, "hooks", "ready")
                if message["type"] == "ready":
                    break
                _run_hooks("prestart", config, hook_state)
                _run_hooks("createRuntime", config, hook_state)
                channel.send(spawned.sock, "go")
            record["cgroup_created"] = cgroup_made
            st.write(record)
            if pid_file:
                _write_atomic(pid_file, f"{pid}")
            return st.oci_state()
        except BaseException:
            self._undo_create(st, spawned, cgroup, cgroup_made)
            raise
        finally:
            if spawned:
                spawned.sock.close()
            for closable in (console, monitor_console, tracer):
                if closable is not None:
                    closable.close()
            if state_fd >= 0:
                os.close(state_fd)

    def _undo_create(self, st: StateDir, spawned: process.Spawned | None, cgroup: str,
                     cgroup_made: list[str]) -> None:
        """A failed create leaves nothing: no process, no cgroup, no state dir (mounts die with C)."""
        import shutil

        from minikube_py.runtime import process

        if spawned is not None:
            try:
                os.kill(spawned.init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.reap(spawned.monitor_pid)  # the monitor exits once it has reaped the init
        if cgroup_made:
            try:
                resources.destroy(cgroup, cgroup_made)
            except (ContainerError, OSError):
                pass
        shutil.rmtree(st.path, ignore_errors=True)

    # ------------------------------------------------------------------ start
    def start(self, container_id: str) -> None:
        """Release the init: open the exec FIFO for reading, so its blocked open() returns."""
        import select

        st = self._dir(container_id)
        record = st.read()
        status = st.status(record)
        if status != "created":
            raise ContainerError(f"cannot start container {container_id!r}: it is {status}, not created")
        tracer = Tracer(st.file("trace.jsonl"))
        Syscalls(tracer).note("open", why="start: opening the exec FIFO for reading releases the init",
                              path="exec.fifo", flags="O_RDONLY")
        tracer.close()
        fifo = os.open(st.file("exec.fifo"), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            _write_atomic(st.file("started"), now_rfc3339())
            poller = select.poll()
            poller.register(fifo, select.POLLIN)
            while True:
                if poller.poll(100) and os.read(fifo, 1):
                    break
                if not pid_is(record["pid"], record["pid_start_time"]):
                    raise ContainerError(f"container {container_id!r}: its init exited before start")
        finally:
            os.close(fifo)
        os.unlink(st.file("exec.fifo"))
        config = st.config()
        _run_hooks("poststart", config, st.oci_state(), strict=False)

    # ------------------------------------------------------------------ state
    def state(self, container_id: str) -> dict[str, Any]:
        return self._dir(container_id).oci_state()

    def exit_info(self, container_id: str) -> dict[str, Any] | None:
        return self._dir(container_id).exit_info()

    def log_path(self, container_id: str) -> str | None:
        return self._dir(container_id).read().get("log_path")

    def list(self) -> list[dict[str, Any]]:
        out = []
        for cid in list_ids(self.root):
            try:
                out.append(self._dir(cid).oci_state())
            except ContainerError:
                continue  # deleted while we were listing
        return out

    def ps(self, container_id: str) -> list[int]:
        st = self._dir(container_id)
        record = st.read()
        try:
            return sorted(resources.procs(record["cgroup"]))
        except (ContainerError, OSError):
            import psutil

            if st.status(record) == "stopped":
                return []
            init = psutil.Process(record["pid"])
            return sorted([init.pid] + [p.pid for p in init.children(recursive=True)])

    # ------------------------------------------------------------------ kill
    def kill(self, container_id: str, sig: str | int = "SIGTERM", all_processes: bool = False) -> None:
        """Signal the init; with all_processes (runc's --all) every process in the container's cgroup,
        which is no error once the init has exited (containerd sends SIGKILL that way to clean up)."""
        number = parse_signal(sig)
        st = self._dir(container_id)
        record = st.read()
        if all_processes:
            self._kill_all(container_id, record, number)
            return
        # A pidfd pins the process: after checking its start time we cannot signal a reused pid.
        try:
            fd = os.pidfd_open(record["pid"])
        except ProcessLookupError:
            fd = -1
        try:
            if fd < 0 or st.status(record) == "stopped":
                raise ContainerError(f"container {container_id!r} is not running")
            signal.pidfd_send_signal(fd, number)
        finally:
            if fd >= 0:
                os.close(fd)

    def _kill_all(self, container_id: str, record: dict[str, Any], number: int) -> None:
        try:
            pids = resources.procs(record["cgroup"])
        except (ContainerError, OSError):
            pids = []  # no cgroup to read (no cgroup support): the init alone
        if self._dir(container_id).status(record) != "stopped":
            pids = [record["pid"], *pids]
        for pid in dict.fromkeys(pids):
            try:
                os.kill(pid, number)
            except ProcessLookupError:
                pass

    # ------------------------------------------------------------------ delete
    def delete(self, container_id: str, force: bool = False) -> None:
        import shutil

        st = self._dir(container_id)
        if force and not st.exists() and os.path.isdir(st.path):
            # A create that was itself killed half-way left a directory without state.json;
            # its init exits by itself once the creator's end of the channel is closed.
            shutil.rmtree(st.path, ignore_errors=True)
            return
        record = st.read()
        status = st.status(record)
        if status == "running" and not force:
            raise ContainerError(f"cannot delete container {container_id!r}: it is running"
                                 " (stop it first, or use --force)")
        if status != "stopped":
            try:
                self.kill(container_id, signal.SIGKILL)
            except ContainerError:
                pass
            wait_gone(record["pid"], record["pid_start_time"])
        try:
            # also kills what an exec left behind
            resources.destroy(record["cgroup"], record.get("cgroup_created"),
                              prune=record["cgroup"] == f"{resources.DEFAULT_PARENT}/{container_id}")
        except ContainerError as exc:
            raise ContainerError(f"delete {container_id!r}: {exc}") from None
        # The monitor writes exit.json into the state dir: let it finish before removing the dir.
        if record.get("monitor_pid"):
            wait_gone(record["monitor_pid"], record.get("monitor_start_time"))
        config = st.config()
        state = st.oci_state()
        shutil.rmtree(st.path, ignore_errors=True)
        _run_hooks("poststop", config, state, strict=False)

    # ------------------------------------------------------------------ run
    def run(self, container_id: str, bundle: str, detach: bool = False, pid_file: str | None = None,
            console_socket: str | None = None) -> int:
        """create + start; unless detached, wait for the exit, delete, and return the exit code.

        Attached with process.terminal and no --console-socket, runc's way: the init
        sends its pty master to us over a socketpair and we proxy our stdio to it.
        """
        import socket

        ours = theirs = None
        if not detach and not console_socket:
            ours, theirs = socket.socketpair()
        try:
            self.create(container_id, bundle, pid_file=pid_file, console_socket=console_socket,
                        attach=not detach, console_peer=theirs)
        except BaseException:
            if ours is not None:
                ours.close()
            raise
        finally:
            if theirs is not None:
                theirs.close()
        record = self._dir(container_id).read()
        master = -1
        try:
            if ours is not None and self._dir(container_id).config()["process"].get("terminal"):
                from minikube_py.runtime import console

                master = console.receive_master(ours)  # sent during create, waiting in the socket
            self.start(container_id)
        except BaseException:
            if master >= 0:
                os.close(master)
            self.delete(container_id, force=True)
            raise
        finally:
            if ours is not None:
                ours.close()
        if detach:
            return 0
        if master >= 0:
            from minikube_py.runtime import console

            try:
                console.proxy(master)
            finally:
                os.close(master)
        # The monitor is our own child (process A): waiting for it is waiting for the container.
        try:
            os.waitpid(record["monitor_pid"], 0)
        except ChildProcessError:
            wait_gone(record["monitor_pid"], record["monitor_start_time"], timeout=None)
        info = self.exit_info(container_id) or {"exitCode": 255}
        self.delete(container_id, force=True)
        return int(info["exitCode"])


def _run_hooks(stage: str, config: dict[str, Any], state: dict[str, Any], strict: bool = True) -> None:
    if (config.get("hooks") or {}).get(stage):
        from minikube_py.runtime import hooks  # (subprocess is only imported when there are hooks)

        hooks.run(stage, config, state, strict)


def _connect_console(path: str) -> socket.socket:
    from minikube_py.runtime import console

    try:
        return console.connect(path)
    except OSError as exc:
        raise ContainerError(f"--console-socket {path}: {exc.strerror}") from None


def _write_id_maps(sys: Syscalls, pid: int, linux: dict[str, Any]) -> None:
    for kind in ("uid", "gid"):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux[f"{kind}Mappings"])
        sys.write_file(f"/proc/{pid}/{kind}_map", lines, why=f"linux.{kind}Mappings")


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def _mark_fds_cloexec() -> None:
    """Descriptors the caller let us inherit must not reach the monitor or the container."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass
