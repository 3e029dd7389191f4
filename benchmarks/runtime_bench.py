"""mkpy-runc run vs runc run vs crun run of /bin/true on the same busybox bundle.

    sudo /opt/mkpy/venv/bin/python benchmarks/runtime_bench.py [--runs 30] [--baseline OLD-CHECKOUT]

Each run is one `<runtime> --root <tmp> run --bundle <b> <id>` (create + start +
wait + delete), stdio to /dev/null, timed from fork to exit. The checkout is compiled
to bytecode first (what setup.sh does); "mkpy-runc, no .pyc" shows what each call
costs when Python may not read or write cached bytecode (PYTHONDONTWRITEBYTECODE=1 and
an editable install that was never compiled: every module is compiled on every call). mkpy-runc is the
command scripts/setup.sh installs (runtime/launcher.py: `python -S`), written for
this checkout into the temp dir; `python -m minikube_py.runtime.cli` (a normal
interpreter start, site.py and all) is timed too, for comparison. Printed:
medians and ratios against runc measured in the same session, the fixed start-up
cost alone (`state` of a missing container), the phases of `run` inside one
process, the Python import cost of one `run` (`-X importtime`), and the
monitor's memory for one running container.

crun refuses hybrid cgroup hosts (it sees the nearly empty cgroup2 at
/sys/fs/cgroup/unified and picks v2), so crun alone is timed from a child process
in a private mount namespace where that mount is lazily unmounted; the host's
mounts are untouched (the namespace is made a slave first, so nothing propagates).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from minikube_py.runtime import launcher  # noqa: E402
from minikube_py.runtime.spec import default_spec  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
# The plain way to start the CLI: a normal interpreter start (site.py runs).
MKPY_M = [sys.executable, "-m", "minikube_py.runtime.cli"]


def make_bundle(top: Path) -> Path:
    rootfs = top / "bundle" / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "tmp", "etc"):
        (rootfs / d).mkdir()
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    (rootfs / "bin" / "true").symlink_to("busybox")
    config = default_spec(terminal=False)
    config["process"]["args"] = ["/bin/true"]
    config["linux"]["cgroupsPath"] = "/mkpyt-rt-bench"
    (top / "bundle" / "config.json").write_text(json.dumps(config, indent=1))
    return top / "bundle"


def _children_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every finished, waited-for descendant
    return (usage.ru_utime + usage.ru_stime) * 1000


def time_runs(argv_for, runs: int, status: int = 0, warmups: int = 2,
              cpu: list[float] | None = None) -> list[float]:
    """Run argv_for(i) `runs` times (after the warm-ups); return wall times in ms.

    With `cpu`, also append each run's CPU time (user + system of its whole process
    tree, in ms): the load of a shared machine stretches wall time far more than CPU time.
    """
    times = []
    for i in range(runs + warmups):
        cpu0 = _children_cpu_ms()
        t0 = time.perf_counter()
        done = subprocess.run(argv_for(i), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=ENV)
        elapsed = (time.perf_counter() - t0) * 1000
        if cpu is not None and i >= warmups:
            cpu.append(_children_cpu_ms() - cpu0)
        if done.returncode != status:
            raise SystemExit(f"{' '.join(argv_for(i))} failed: {done.stderr.decode()}")
        if i >= warmups:
            times.append(elapsed)
    return times


def time_interleaved(commands: dict[str, object], runs: int, status: int = 0,
                     cpu: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """time_runs for several commands, taking turns run by run, so a busy moment hits them all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(runs + 2):  # the first two rounds warm up
        for name, argv_for in commands.items():
            spent: list[float] = []
            elapsed = time_runs(lambda _, argv_for=argv_for, i=i: argv_for(i), 1, status, warmups=0,
                                cpu=spent)
            if i >= 2:
                times[name] += elapsed
                if cpu is not None:
                    cpu.setdefault(name, []).extend(spent)
    return times


def time_crun_privately(bundle: Path, state: Path, runs: int) -> tuple[list[float], list[float]]:
    """crun timings from a child in a private mount namespace without /sys/fs/cgroup/unified."""
    from minikube_py.kernel import shim

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            shim.unshare(shim.CLONE_NEWNS)
            shim.mount(None, "/", None, shim.MS_REC | shim.MS_SLAVE)  # nothing propagates back
            if os.path.ismount("/sys/fs/cgroup/unified"):
                shim.umount2("/sys/fs/cgroup/unified", shim.MNT_DETACH)
            cpu: list[float] = []
            times = time_runs(lambda i: ["crun", "--root", str(state), "run", "--bundle", str(bundle),
                                         f"mkpyt-rt-bench-crun-{i}"], runs, cpu=cpu)
            os.write(w, json.dumps({"wall": times, "cpu": cpu}).encode())
        except BaseException as exc:  # noqa: BLE001 - report and leave
            os.write(w, json.dumps({"error": str(exc)}).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    result = json.loads(data)
    if "error" in result:
        raise SystemExit(f"crun: {result['error']}")
    return result["wall"], result["cpu"]


def import_time(flags: list[str], bundle: Path, state: Path, repeats: int = 5
                ) -> tuple[float, list[tuple[float, str]]]:
    """Import time (ms, sum of every module's own time) of one `run`, and the biggest top-level imports.

    One run is noisy on a shared machine: this is the run with the median total of `repeats`.
    """
    found = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-X", "importtime", *flags, "--root", str(state), "run",
                               "--bundle", str(bundle), "mkpyt-rt-bench-imp"], capture_output=True,
                              text=True, env=ENV)
        top, total = [], 0.0
        for line in done.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
            if m:
                total += int(m.group(1)) / 1000
                if not m.group(3):  # a top-level import (not nested in another)
                    top.append((int(m.group(2)) / 1000, m.group(4)))
        found.append((total, sorted(top, reverse=True)[:8]))
    return sorted(found)[len(found) // 2]


def interpreter_start(runs: int, *flags: str) -> float:
    return statistics.median(time_runs(lambda i: [sys.executable, *flags, "-c", "pass"], runs))


def phases(bundle: Path, state: Path, runs: int) -> dict[str, float]:
    """Median ms of each phase of `run`, in this process (no interpreter start, no imports)."""
    from minikube_py.runtime.container import Runtime

    rt = Runtime(str(state))
    spent: dict[str, list[float]] = {"create": [], "start": [], "wait": [], "delete": []}
    for i in range(runs):
        cid = f"mkpyt-rt-bench-ph-{i}"
        t0 = time.perf_counter()
        rt.create(cid, str(bundle), attach=True)
        t1 = time.perf_counter()
        rt.start(cid)
        t2 = time.perf_counter()
        os.waitpid(rt._dir(cid).read()["monitor_pid"], 0)  # the monitor is our child (process A)
        t3 = time.perf_counter()
        rt.delete(cid)
        t4 = time.perf_counter()
        for name, ms in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[name].append(ms * 1000)
    return {name: statistics.median(v) for name, v in spent.items()}


def monitor_memory(mkpy: list[str], bundle: Path, state: Path) -> dict[str, float]:
    import psutil

    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = ["sleep", "1000"]
    (bundle / "rootfs" / "bin" / "sleep").symlink_to("busybox")
    sleeper = bundle.parent / "sleeper"
    sleeper.mkdir()
    (sleeper / "config.json").write_text(json.dumps({**config, "root": {"path": str(bundle / "rootfs"),
                                                                         "readonly": True}}))
    cid = "mkpyt-rt-bench-rss"
    subprocess.run([*mkpy, "--root", str(state), "run", "-d", "--bundle", str(sleeper), cid], check=True,
                   env=ENV)
    try:
        record = json.loads((state / cid / "state.json").read_text())
        info = psutil.Process(record["monitor_pid"]).memory_full_info()
        return {"rss": info.rss / 1024, "pss": info.pss / 1024, "uss": info.uss / 1024}
    finally:
        subprocess.run([*mkpy, "--root", str(state), "delete", "--force", cid], check=True, env=ENV)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--baseline", metavar="CHECKOUT", default=None,
                        help="also time `python -m minikube_py.runtime.cli` of another checkout (built"
                             " in place), taking turns with the others: a before/after in one run")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    top = Path(tempfile.mkdtemp(prefix="mkpyt-rt-bench-"))
    os.chmod(top, 0o755)
    # Cached bytecode, as after setup.sh (compileall) or any first run that may write it: with
    # PYTHONDONTWRITEBYTECODE=1 and no __pycache__, every CLI call would compile every module.
    import compileall

    for checkout in filter(None, [str(REPO), args.baseline]):
        compileall.compile_dir(os.path.join(checkout, "minikube_py"), quiet=1)
    try:
        bundle = make_bundle(top)
        mkpy = [str(top / "mkpy-runc")]
        launcher.write_script(mkpy[0])  # what scripts/setup.sh installs, for this checkout
        # The same CLI from a copy of the package without __pycache__, under -B (write none):
        # minikube_py's modules are compiled on every call; the standard library's are cached as usual.
        shutil.copytree(REPO / "minikube_py", top / "no-pyc" / "minikube_py",
                        ignore=shutil.ignore_patterns("__pycache__"))
        paths = [str(top / "no-pyc"), *launcher.search_path()[1:]]
        no_pyc = [sys.executable, "-S", "-B", "-c", launcher.code(paths)]
        state = top / "state-mkpy"
        cpu: dict[str, list[float]] = {}
        commands = {
            "mkpy-runc (python -S)":
                lambda i: [*mkpy, "--root", str(state), "run", "--bundle", str(bundle), f"mkpyt-rt-b-{i}"],
            "python -m ...runtime.cli":
                lambda i: [*MKPY_M, "--root", str(state), "run", "--bundle", str(bundle), f"mkpyt-rt-m-{i}"],
            "mkpy-runc, no .pyc":
                lambda i: [*no_pyc, "--root", str(state), "run", "--bundle", str(bundle), f"mkpyt-rt-n-{i}"],
            "runc": lambda i: ["runc", "--root", str(top / "state-runc"), "run", "--bundle", str(bundle),
                               f"mkpyt-rt-bench-runc-{i}"],
        }
        if args.baseline:
            # -m of that checkout's CLI, like MKPY_M but with its directory first on sys.path
            other = [sys.executable, "-c", f"import runpy, sys; sys.path.insert(0, {args.baseline!r}); "
                     "runpy.run_module('minikube_py.runtime.cli', run_name='__main__')"]
            commands["baseline: python -m"] = lambda i: [*other, "--root", str(state), "run", "--bundle",
                                                         str(bundle), f"mkpyt-rt-base-{i}"]
        results = time_interleaved(commands, args.runs, cpu=cpu)
        crun = "crun (private mnt ns)"
        results[crun], cpu[crun] = time_crun_privately(bundle, top / "state-crun", args.runs)

        runc = statistics.median(results["runc"])
        print(f"run of /bin/true, create+start+wait+delete, {args.runs} runs each (after 2 warm-ups;"
              " all but crun take turns, crun runs after them):")
        runc_cpu = statistics.median(cpu["runc"])
        print(f"  {'runtime':<26} {'median ms':>10} {'min ms':>8} {'p90 ms':>8} {'vs runc':>8}"
              f" {'CPU ms':>8} {'vs runc':>8}")
        for name, times in results.items():
            med, med_cpu = statistics.median(times), statistics.median(cpu[name])
            p90 = sorted(times)[int(len(times) * 0.9) - 1]
            print(f"  {name:<26} {med:>10.1f} {min(times):>8.1f} {p90:>8.1f} {med / runc:>7.2f}x"
                  f" {med_cpu:>8.1f} {med_cpu / runc_cpu:>7.2f}x")
        print("  (CPU ms: user + system time of the run's whole process tree, median)")

        # The fixed cost of one CLI call: `state` of a container that does not exist (exit status 1).
        fixed_cpu: dict[str, list[float]] = {}
        fixed = time_interleaved({
            name: lambda i, argv=argv: [*argv, "--root", str(state), "state", "mkpyt-rt-bench-none"]
            for name, argv in (("mkpy-runc", mkpy), ("python -m", MKPY_M), ("runc", ["runc"]))}, args.runs, 1,
            cpu=fixed_cpu)
        print("\nstart-up alone (`state` of a missing container, medians): "
              + ", ".join(f"{k} {statistics.median(v):.1f} ms (CPU {statistics.median(fixed_cpu[k]):.1f})"
                          for k, v in fixed.items()))

        split = phases(bundle, top / "state-phases", args.runs)
        print("\nmkpy-runc run, phase by phase in one process (medians, ms): "
              + ", ".join(f"{k} {v:.1f}" for k, v in split.items()))

        bare, bare_s = interpreter_start(args.runs), interpreter_start(args.runs, "-S")
        print(f"\nPython: bare interpreter start (python -c pass) median {bare:.1f} ms, "
              f"with -S {bare_s:.1f} ms")
        # mkpy-runc's script is `python -S` + launcher.code(): the same, with -X importtime added.
        for name, flags in (("mkpy-runc", ["-S", "-c", launcher.code()]), ("python -m", MKPY_M[1:])):
            total, biggest = import_time(flags, bundle, top / "state-imp")
            print(f"imports of one `run` via {name} (-X importtime, sum of own times): {total:.1f} ms; "
                  "biggest top-level:")
            for ms, mod in biggest[:6]:
                print(f"  {ms:7.1f} ms  {mod}")

        mem = monitor_memory(mkpy, bundle, top / "state-mkpy")
        print(f"\nmonitor (mkpy-monitor, one running container): RSS {mem['rss']:.0f} KiB, "
              f"PSS {mem['pss']:.0f} KiB, USS {mem['uss']:.0f} KiB")
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
