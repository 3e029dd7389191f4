"""Host side of the VM lane: boot a user-mode-linux kernel, run one command in it, return.

    result = run_in_vm(["/opt/mkpy/venv/bin/python", "-m", "pytest", ...], cwd=repo)
    result.exit_code, result.output, result.boot_seconds

The kernel is an ordinary child process: it gets the host root as hostfs, but
vm_init.py makes that read-only (an overlay with a tmpfs upper) before the
command runs, and only `results_dir` is writable from inside. Output streams
through a pipe (the UML console); the exit code comes back through a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

UML = "/usr/bin/linux.uml"
INIT = str(Path(__file__).resolve().parent / "vm_init.py")


@dataclass
class VmResult:
    exit_code: int
    output: str
    seconds: float
    results_dir: Path


def available() -> str | None:
    """None when the lane can run here, else the reason it cannot."""
    if not os.path.exists(UML):
        return f"{UML} is missing (apt-get install user-mode-linux)"
    if os.geteuid() != 0:
        return "the VM lane needs root (its init mounts and loads modules)"
    return None


def run_in_vm(
    argv: list[str],
    *,
    cwd: str = "/",
    env: dict[str, str] | None = None,
    mem: str = "1536M",
    timeout: float = 900,
    results_dir: str | None = None,
    kernel_args: list[str] | None = None,
    hostname: str = "mkpy-vm",
    echo: bool = False,
    on_boot: Callable[[subprocess.Popen], None] | None = None,
) -> VmResult:
    """Boot, run `argv` inside (absolute interpreter paths: no pyenv shims), power off.

    `on_boot` gets the kernel's process as soon as it starts (a caller in another thread can end it)."""
    reason = available()
    if reason:
        raise RuntimeError(reason)
    results = Path(results_dir or tempfile.mkdtemp(prefix="mkpy-vmlane-", dir="/var/tmp"))
    results.mkdir(parents=True, exist_ok=True)
    job = {"argv": argv, "cwd": cwd, "env": env or {}, "results": str(results), "hostname": hostname,
           "visible": [cwd]}
    job_path = results / "job.json"
    job_path.write_text(json.dumps(job))
    exit_file = results / "exitcode"
    exit_file.unlink(missing_ok=True)

    cmd = [
        UML,
        f"mem={mem}",
        "root=/dev/root",
        "rootfstype=hostfs",
        "rootflags=/",
        "rw",
        f"init={INIT}",
        "con=null",
        "con0=fd:0,fd:1",
        "quiet",
        f"mkpy_job={job_path}",
        *(kernel_args or []),
    ]
    # UML backs the VM's memory with a file in TMPDIR; keep it off the project tree.
    uml_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TMPDIR": "/dev/shm", "HOME": str(results)}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=uml_env,
        start_new_session=True,
    )
    if on_boot is not None:
        on_boot(proc)
    chunks: list[str] = []
    # A silent, hung VM must not hang the host: the watchdog ends it at the deadline.
    expired = threading.Event()

    def watchdog() -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, watchdog)
    timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").replace("\r", "")
            chunks.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        proc.wait()
    finally:
        timer.cancel()
        _stop(proc)
    if expired.is_set():
        chunks.append(f"\nvm-lane: timed out after {timeout:.0f}s\n")
    seconds = time.monotonic() - t0
    code = int(exit_file.read_text()) if exit_file.exists() else 124
    return VmResult(code, "".join(chunks), seconds, results)


def _stop(proc: subprocess.Popen) -> None:
    """UML runs as several host processes in one session; end them all (they are ours)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    else:
        try:  # helper threads/processes of a kernel that already halted
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.stdin:
        proc.stdin.close()
    if proc.stdout:
        proc.stdout.close()


@contextlib.contextmanager
def uml_switch(sock: str, wait: float = 10):
    """A virtual Ethernet switch on a unix socket, for several VMs as nodes of one LAN.

    Each VM joins with the kernel argument `eth0=daemon,<mac>,unix,<sock>`; nothing of the
    host's network is involved. The switch is ended when the block leaves.
    """
    proc = subprocess.Popen(["uml_switch", "-unix", sock], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + wait
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not os.path.exists(sock):
            raise RuntimeError("uml_switch did not create its socket")
        yield sock
    finally:
        proc.kill()
        proc.wait()


def cleanup(result: VmResult) -> None:
    shutil.rmtree(result.results_dir, ignore_errors=True)
