"""What a seccomp filter costs per system call: no filter vs an allow-all filter vs RuntimeDefault.

    sudo /opt/mkpy/venv/bin/python benchmarks/cgroups_seccomp.py

Each variant runs in a forked child (a filter cannot be removed once loaded). The calls
timed are made through ctypes' syscall(2), so libc caching does not hide them: getppid
(number 110, checked early in our linear filter) and getrandom (318, checked late).
Figures are nanoseconds per call, the fastest of 9 runs (the least disturbed by other load on a
shared machine), and the ratio to "no filter"; ctypes adds ~100+ ns to every call alike.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import prctl

from minikube_py.runtime import seccomp

CALLS = 50_000
SYSCALLS = {"getppid": 110, "getrandom": 318}


def measure(profile: dict | None) -> dict[str, float]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        if profile is not None:
            prctl.set_no_new_privs(True)
            seccomp.load(profile)
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(8)
        out = []
        for name, nr in SYSCALLS.items():
            runs = []
            for _ in range(9):
                t0 = time.perf_counter_ns()
                if name == "getrandom":
                    for _ in range(CALLS):
                        libc.syscall(nr, buf, 1, 0)
                else:
                    for _ in range(CALLS):
                        libc.syscall(nr)
                runs.append((time.perf_counter_ns() - t0) / CALLS)
            out.append(f"{name}={min(runs)}")
        os.write(w, " ".join(out).encode())
        os._exit(0)
    os.close(w)
    data = os.read(r, 4096).decode()
    os.waitpid(pid, 0)
    return {k: float(v) for k, v in (item.split("=") for item in data.split())}


def main() -> None:
    variants = {
        "no filter": None,
        "allow-all filter": {"defaultAction": "SCMP_ACT_ALLOW"},
        "RuntimeDefault": seccomp.default_profile(),
    }
    instructions = {k: seccomp.compile_profile(v).instructions if v else 0 for k, v in variants.items()}
    # Interleaved rounds, best of each: load from other processes hits all variants alike.
    results: dict[str, dict[str, float]] = {}
    for _ in range(3):
        for name, profile in variants.items():
            got = measure(profile)
            best = results.setdefault(name, got)
            results[name] = {n: min(best[n], got[n]) for n in SYSCALLS}
    base = results["no filter"]
    header = "  ".join(f"{n + ' ns':>14} {'ratio':>6}" for n in SYSCALLS)
    print(f"{'variant':<18} {'BPF insns':>9}  {header}")
    for name, figures in results.items():
        cells = "  ".join(f"{figures[n]:>14.0f} {figures[n] / base[n]:>6.2f}" for n in SYSCALLS)
        print(f"{name:<18} {instructions[name]:>9}  {cells}")


if __name__ == "__main__":
    main()
