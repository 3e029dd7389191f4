"""The teaching trace: a numbered record of every kernel call, with the code that made it.

The facade (syscalls.py) appends one TraceEntry per call. A Tracer may write
the entries as JSON lines to a file (a container's state dir keeps one), so
`mkpy runtime trace ID` can print the narrative after the process is gone.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

_KERNEL_DIR = str(Path(__file__).resolve().parent)


@dataclass
class TraceEntry:
    call: str  # the system call, e.g. "pivot_root"
    args: dict[str, object]  # its arguments, as shown to the student
    where: str  # file:line of the project code that asked for it
    why: str = ""  # one short sentence, optional
    error: str | None = None  # the OSError text when the call failed
    pid: int = field(default_factory=os.getpid)


def caller_location() -> str:
    """file:line of the first frame outside the kernel package (the code a student should read)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_KERNEL_DIR):
        frame = frame.f_back
    if frame is None:
        return "?"
    path = Path(frame.f_code.co_filename)
    try:
        path = path.relative_to(Path(_KERNEL_DIR).parent.parent)
    except ValueError:
        pass
    return f"{path}:{frame.f_lineno}"


class Tracer:
    """Collects trace entries in memory and, optionally, appends them to a JSON-lines file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.entries: list[TraceEntry] = []
        self._file: IO[str] | None = open(path, "a", buffering=1) if path else None

    def record(self, entry: TraceEntry) -> None:
        self.entries.append(entry)
        if self._file is not None:
            self._file.write(json.dumps(asdict(entry), default=str) + "\n")

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
