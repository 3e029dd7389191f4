"""The teaching trace: a numbered record of every kernel call, with the code that made it.

The facade (syscalls.py) appends one TraceEntry per call. A Tracer may write
the entries as JSON lines to a file (a container's state dir keeps one), so
`mkpy runtime trace ID` can print the narrative after the process is gone.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO

# (os.path, not pathlib or dataclasses: this module is on the path of every
# `mkpy-runc` call, and those two imports alone would cost it ~7 ms.)
_KERNEL_DIR = os.path.dirname(os.path.realpath(__file__))
_PROJECT_DIR = os.path.dirname(os.path.dirname(_KERNEL_DIR))


class TraceEntry:
    """One kernel call: what, with which arguments, from where, why, and how it ended."""

    __slots__ = ("args", "call", "error", "pid", "where", "why")

    def __init__(self, call: str, args: dict[str, object], where: str, why: str = "",
                 error: str | None = None, pid: int | None = None) -> None:
        self.call = call        # the system call, e.g. "pivot_root"
        self.args = args        # its arguments, as shown to the student
        self.where = where      # file:line of the project code that asked for it
        self.why = why          # one short sentence, optional
        self.error = error      # the OSError text when the call failed
        self.pid = os.getpid() if pid is None else pid

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in ("call", "args", "where", "why", "error", "pid")}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TraceEntry) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"TraceEntry({self.to_dict()!r})"


def caller_location() -> str:
    """file:line of the first frame outside the kernel package (the code a student should read)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_KERNEL_DIR):
        frame = frame.f_back
    if frame is None:
        return "?"
    path = frame.f_code.co_filename
    if path.startswith(_PROJECT_DIR + os.sep):  # relative to the checkout, as a student opens it
        path = path[len(_PROJECT_DIR) + 1:]
    return f"{path}:{frame.f_lineno}"


class Tracer:
    """Collects trace entries in memory and, optionally, appends them to a JSON-lines file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.entries: list[TraceEntry] = []
        self._file: IO[str] | None = open(path, "a", buffering=1) if path else None

    def record(self, entry: TraceEntry) -> None:
        self.entries.append(entry)
        if self._file is not None:
            self._file.write(json.dumps(entry.to_dict(), default=str) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_trace(path: str | os.PathLike[str]) -> list[TraceEntry]:
    entries = []
    with open(path) as f:
        for line in f:
            if line.strip():
                entries.append(TraceEntry(**json.loads(line)))
    return entries


def format_trace(entries: list[TraceEntry]) -> str:
    """The numbered narrative a student reads: `  3. pivot_root(new_root=...)   runtime/rootfs.py:88`."""
    lines = []
    for n, e in enumerate(entries, 1):
        args = ", ".join(f"{k}={v}" for k, v in e.args.items())
        text = f"{n:4d}. [pid {e.pid}] {e.call}({args})"
        if e.error:
            text += f"  -> FAILED: {e.error}"
        text += f"\n        at {e.where}"
        if e.why:
            text += f"  — {e.why}"
        lines.append(text)
    return "\n".join(lines)
