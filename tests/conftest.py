"""Shared test machinery: root gating, the leak check, and the VM lane.

Markers (see pyproject.toml):
  integration  needs root and a real kernel; skipped with a reason otherwise.
  vm           also runs inside the cgroup-v2 user-mode-linux kernel; on the host the
               test runs as usual *and* a second item `<name>[uml]` reports the VM's result.
  vm_only      runs only inside the VM lane (on the host only its `[uml]` item exists).

All VM-lane items of a session run in one boot, which starts when collection ends and runs
beside the host tests (a core each; MKPY_VM_LANE_PARALLEL=0 or --vm-echo runs it on first use
instead). Host tests marked `boots_vms` start their own UML kernels: they run last, after the
lane. `--no-vm-lane` (or MKPY_VM_LANE=0) leaves the lane out; `-m vm` style selection works as usual.

Everything a test creates carries the prefix `mkpyt` (netns, links, cgroups,
chains, state dirs) so the leak check can name it; see leakcheck.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))
# Tests exercise the checkout they live in (and so do the CLIs they start), even
# when the virtual environment's editable install points at another clone.
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

import leakcheck  # noqa: E402
from leakcheck import KernelSnapshot  # noqa: E402
from vmlane import uml  # noqa: E402

IN_VM = os.environ.get("MKPY_IN_VM") == "1"
VM_LANE_TIMEOUT = 2400  # seconds for the whole lane: one vCPU runs every vm-marked test
IS_ROOT = os.geteuid() == 0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--no-vm-lane", action="store_true", help="do not boot the user-mode-linux VM lane")
    parser.addoption("--vm-echo", action="store_true", help="stream the VM lane's console while it runs")
    parser.addoption("--vm-lane-only", action="store_true",
                     help="run only the VM lane (the vm tests inside user-mode-linux), not their host runs")


# ---------------------------------------------------------------- collection
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if IN_VM:
        # Inside the VM only the tests meant for it run (the host runs the rest).
        keep = [i for i in items if i.get_closest_marker("vm") or i.get_closest_marker("vm_only")]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
        return

    lane_off = config.getoption("--no-vm-lane") or os.environ.get("MKPY_VM_LANE") == "0"
    host_items, vm_items = [], []
    for item in items:
        if item.get_closest_marker("integration") and not IS_ROOT:
            item.add_marker(pytest.mark.skip(reason="integration test: needs root (run with sudo)"))
        if item.get_closest_marker("vm_only"):
            if not lane_off:
                vm_items.append(VmLaneItem.from_parent(item.parent, name=item.name + "[uml]", target=item))
            continue
        host_items.append(item)
        if item.get_closest_marker("vm") and not lane_off:
            vm_items.append(VmLaneItem.from_parent(item.parent, name=item.name + "[uml]", target=item))
    if config.getoption("--vm-lane-only"):
        config.hook.pytest_deselected(items=host_items)
        host_items = []
    # Tests that boot their own UML kernels wait for the lane and run last (sorted() is stable).
    host_items = sorted(host_items, key=lambda i: i.get_closest_marker("boots_vms") is not None)
    # VM-lane items last: one boot runs them all, and the host log reads in order.
    items[:] = host_items + vm_items


# ---------------------------------------------------------------- the VM lane
class VmLaneRun:
    """One boot of the VM lane running every selected vm/vm_only test, with per-test results."""

    def __init__(self, nodeids: list[str]) -> None:
        self.nodeids = nodeids
        self.results: dict[str, dict] = {}
        self.error: str | None = None
        self.result: uml.VmResult | None = None
        self.finished = False
        self._thread: threading.Thread | None = None
        self._kernel = None  # the UML process while it runs

    @property
    def in_background(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Boot in the background: the host tests run meanwhile (the lane's kernel uses one core)."""
        self._thread = threading.Thread(target=self._run_guarded, args=(False,), name="vm-lane", daemon=True)
        self._thread.start()

    def wait(self, echo: bool) -> None:
        """The lane's results: join the background boot, or boot now if none was started."""
        if self._thread is not None:
            self._thread.join()
        elif not self.finished and self.nodeids:
            self._run_guarded(echo)

    def stop(self) -> None:
        """End a lane still running when the session ends early (Ctrl-C, -x)."""
        kernel = self._kernel
        if kernel is not None and kernel.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(kernel.pid, signal.SIGKILL)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run_guarded(self, echo: bool) -> None:
        try:
            self.run(echo)
        except Exception as e:  # noqa: BLE001 - a thread's exception would be lost; report it per item
            self.error = f"the VM lane failed: {e!r}"
        finally:
            self.finished = True

    def _on_boot(self, kernel) -> None:
        self._kernel = kernel

    def run(self, echo: bool) -> None:
        reason = uml.available()
        if reason:
            self.error = "skip:" + reason
            return
        import tempfile

        results = tempfile.mkdtemp(prefix="mkpy-vmlane-", dir="/var/tmp")
        # The kernel's host processes carry this path; they are the session's, not a test's leak.
        leakcheck.SESSION_PROCESS_MARKS.append(f"mkpy_job={results}/")
        report = os.path.join(results, "report.json")
        python = os.path.realpath(sys.executable) if "/.pyenv/" in sys.executable else sys.executable
        argv = [
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-header",
            "-o",
            "addopts=",
            "--strict-markers",
            *self.nodeids,
        ]
        env = {
            "MKPY_VM_REPORT": report,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        self.result = uml.run_in_vm(argv, cwd=str(REPO), env=env, results_dir=results, echo=echo,
                                    timeout=VM_LANE_TIMEOUT, on_boot=self._on_boot)
        try:
            with open(report) as f:
                self.results = json.load(f)
        except FileNotFoundError:
            self.error = (
                f"the VM lane produced no report (exit {self.result.exit_code});"
                f" console tail:\n{self.result.output[-4000:]}"
            )
        finally:
            uml.cleanup(self.result)


class VmLaneItem(pytest.Item):
    """Stands on the host for a test that ran inside the VM lane."""

    def __init__(self, *, target: pytest.Item, **kwargs) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.add_marker(pytest.mark.vm_lane_proxy)
        # The first proxy item runs the whole lane (one boot for all of them); each test
        # inside the VM still has its own per-test timeout.
        self.add_marker(pytest.mark.timeout(VM_LANE_TIMEOUT + 60))

    def runtest(self) -> None:
        lane: VmLaneRun = self.config.stash[_LANE_KEY]
        lane.wait(self.config.getoption("--vm-echo"))
        if lane.error and lane.error.startswith("skip:"):
            pytest.skip(lane.error[5:])
        if lane.error:
            raise VmLaneFailure(lane.error)
        outcome = lane.results.get(self.target.nodeid)
        if outcome is None:
            raise VmLaneFailure(f"{self.target.nodeid} did not run in the VM lane")
        if outcome["outcome"] == "skipped":
            pytest.skip(f"in the VM lane: {outcome['text']}")
        if outcome["outcome"] != "passed":
            raise VmLaneFailure(f"failed inside the VM lane:\n{outcome['text']}")

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, VmLaneFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):  # type: ignore[override]
        return self.target.path, None, f"{self.target.nodeid}[uml]"


class VmLaneFailure(Exception):
    pass


_LANE_KEY = pytest.StashKey[VmLaneRun]()


def pytest_collection_finish(session: pytest.Session) -> None:
    targets = [i.target.nodeid for i in session.items if isinstance(i, VmLaneItem)]
    lane = session.config.stash[_LANE_KEY] = VmLaneRun(targets)
    config = session.config
    if (targets and not config.option.collectonly and not config.getoption("--vm-echo")
            and os.environ.get("MKPY_VM_LANE_PARALLEL", "1") != "0"):
        lane.start()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("boots_vms"):
        # Its kernels and the lane's would share two cores; wait for the lane to finish.
        lane = item.config.stash.get(_LANE_KEY, None)
        if lane is not None and lane.in_background:
            lane.wait(False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    lane = session.config.stash.get(_LANE_KEY, None)
    if lane is not None:
        lane.stop()
    path = os.environ.get("MKPY_VM_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(_vm_report, f)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A proxy's call phase reports the time its test took inside the VM, so `--durations` ranks
    VM-lane tests too (the first proxy's own wall clock is the whole lane)."""
    outcome = yield
    if isinstance(item, VmLaneItem) and call.when == "call":
        lane: VmLaneRun = item.config.stash[_LANE_KEY]
        inner = lane.results.get(item.target.nodeid, {}).get("seconds")
        if inner is not None:
            outcome.get_result().duration = inner


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    lane = config.stash.get(_LANE_KEY, None)
    if lane is not None and lane.result is not None:
        inside = sum(r.get("seconds", 0.0) for r in lane.results.values())
        terminalreporter.write_line(
            f"VM lane: {len(lane.results)} tests in one user-mode-linux boot, "
            f"{lane.result.seconds:.0f} s wall ({inside:.0f} s in the tests themselves)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vm_lane_proxy: host stand-in for a VM-lane test (internal)")


# ---------------------------------------------------------------- inside the VM: the report
_vm_report: dict[str, dict] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not os.environ.get("MKPY_VM_REPORT"):
        return
    entry = _vm_report.setdefault(report.nodeid, {"outcome": "passed", "text": "", "seconds": 0.0})
    entry["seconds"] += report.duration  # setup + call + teardown
    if report.failed:
        entry["outcome"] = "failed"
        entry["text"] += f"[{report.when}] {report.longreprtext}\n"
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        entry["text"] = reason



# ---------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def _leak_check(request: pytest.FixtureRequest):
    """Integration tests must leave the kernel as they found it; anything left fails the test."""
    if not request.node.get_closest_marker("integration") or not IS_ROOT:
        yield
        return
    before = KernelSnapshot.take()
    yield
    leaks = KernelSnapshot.take().leaks_since(before)
    if leaks:
        pytest.fail("kernel state leaked by this test:\n  " + "\n  ".join(leaks), pytrace=False)


@pytest.fixture
def python_exe() -> str:
    """The interpreter running the tests (a venv's, never a pyenv shim)."""
    return sys.executable


@pytest.fixture
def repo_root() -> Path:
    return REPO
