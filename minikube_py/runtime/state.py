"""A container's state directory: what `state`, `kill`, `exec` and `delete` read.

No daemon keeps containers in memory: everything is in <root>/<id>/:
    state.json   what create recorded (pid, its start time, bundle, cgroup, monitor pid)
    config.json  the config the container was created from (the bundle may change later)
    exec.fifo    exists from create until start: the init is blocked opening it
    started      the RFC 3339 time `start` released the init (read by the monitor)
    exit.json    written by the monitor when the init exits
    trace.jsonl  every kernel call made for this container (`mkpy runtime trace ID`)
    container.log  the CRI-format log, unless the mkpy.io/log-path annotation moves it
    attach       (annotation mkpy.io/stdin) the monitor's unix socket: bytes sent to it go to
                 the container's stdin

The status is computed, not stored: a pid is only "ours" if the process with
that pid still has the start time recorded at create (pids are reused).
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from minikube_py.runtime.errors import ContainerError
from minikube_py.runtime.spec import OCI_VERSION

DEFAULT_ROOT = "/run/mkpy/runtime"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


def check_id(container_id: str) -> None:
    if not _ID.match(container_id or ""):
        raise ContainerError(f"invalid container id {container_id!r}: use letters, digits, '_.+-'")


def now_rfc3339() -> str:
    """RFC 3339 with nanoseconds, UTC (the format the monitor and CRI use)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def _stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat from field 3 (the state) on, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):  # (ESRCH: it exited while we read)
        return None
    # The command name (field 2) may contain spaces and ')': split after the last ')'.
    return data[data.rindex(b")") + 2:].split()


def pid_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks after boot), or None if there is no such process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def pid_is(pid: int, start_time: int | None) -> bool:
    """True while `pid` is still the very process we recorded (not a reused pid, not a zombie)."""
    if not pid or start_time is None:
        return False
    fields = _stat_fields(pid)  # one read: start time and state of the same moment
    return fields is not None and int(fields[19]) == start_time and fields[0] != b"Z"


class StateDir:
    """The files of one container under the state root."""

    def __init__(self, root: str, container_id: str) -> None:
        check_id(container_id)
        self.root = root
        self.id = container_id
        self.path = os.path.join(root, container_id)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def exists(self) -> bool:
        return os.path.isfile(self.file("state.json"))

    def read(self) -> dict[str, Any]:
        try:
            with open(self.file("state.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            raise ContainerError(f"container {self.id!r} does not exist") from None

    def write(self, record: dict[str, Any]) -> None:
        tmp = self.file(".state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
        os.rename(tmp, self.file("state.json"))  # atomic: readers never see half a file

    def config(self) -> dict[str, Any]:
        with open(self.file("config.json")) as f:
            return json.load(f)

    def exit_info(self) -> dict[str, Any] | None:
        try:
            with open(self.file("exit.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def status(self, record: dict[str, Any] | None = None) -> str:
        record = record or self.read()
        if pid_is(record.get("pid", 0), record.get("pid_start_time")):
            return "created" if os.path.exists(self.file("exec.fifo")) else "running"
        # The init is gone; between its death and the monitor writing exit.json there is a short
        # window. Call it "running" until then, so whoever sees "stopped" can read the exit code.
        if (not os.path.exists(self.file("exit.json"))
                and pid_is(record.get("monitor_pid", 0), record.get("monitor_start_time"))):
            return "running"
        return "stopped"

    def oci_state(self) -> dict[str, Any]:
        """The runtime spec's state JSON."""
        record = self.read()
        status = self.status(record)
        state = {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": status,
            "pid": record["pid"] if status != "stopped" else 0,
            "bundle": record["bundle"],
            "annotations": record.get("annotations") or {},
            "created": record.get("created", ""),
        }
        return state


def wait_gone(pid: int, start_time: int | None, timeout: float = 10.0) -> bool:
    """Wait (without polling) until a process that is not our child has exited."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not pid_is(pid, start_time):  # checked after opening: the pidfd pins the right process
            return True
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def list_ids(root: str) -> list[str]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [n for n in names if os.path.isfile(os.path.join(root, n, "state.json"))]
