"""cgroup limits seen from the container: memory (OOM kill reported), pids, cpu (v1 host, v2 VM lane)."""

from __future__ import annotations

import time

import pytest

from minikube_py.runtime.cgroups import open_cgroup

pytestmark = [pytest.mark.integration]


def _stats(cid: str) -> dict:
    return open_cgroup(f"/{cid}").stats()


@pytest.mark.vm
def test_memory_over_allocation_is_oom_killed_and_reported(rt):
    # `tail` keeps the "last line" of /dev/zero, which never ends: memory grows until the limit.
    cid = rt.run_detached(["tail", "/dev/zero"],
                          **{"linux.resources": {"memory": {"limit": 16 << 20}}})
    info = rt.exit_info(cid, timeout=60)
    assert info["oomKilled"] is True
    assert info["signal"] == 9 and info["exitCode"] == 137


def test_normal_exit_is_not_reported_as_oom(rt):
    cid = rt.run_detached(["true"], **{"linux.resources": {"memory": {"limit": 16 << 20}}})
    assert rt.exit_info(cid)["oomKilled"] is False


@pytest.mark.vm
def test_fork_storm_stops_at_pids_max(rt):
    cid = rt.run_detached(["sleep", "1000"], **{"linux.resources": {"pids": {"limit": 12}}})
    # An endless fork loop, exec'd into the container: it ends when fork() fails with EAGAIN
    # (busybox sh gives up on a failed fork), leaving the cgroup full.
    storm = rt.cli("exec", cid, "sh", "-c", "while :; do sleep 1000 >/dev/null 2>&1 & done",
                   check=False, timeout=120)
    assert storm.returncode != 0
    assert "can't fork" in storm.stderr
    # The limit counted the storm's shell and exec's helper too; both have exited now.
    assert 2 < _stats(cid)["pids_current"] <= 12
    rt.cli("delete", "--force", cid)


@pytest.mark.vm
def test_cpu_max_throttles(rt):
    """A busy loop under a 10% quota: the kernel throttles it, and it gets at most ~its quota."""
    cid = rt.run_detached(["sh", "-c", "while :; do :; done"],
                          **{"linux.resources": {"cpu": {"quota": 10000, "period": 100000}}})
    deadline = time.monotonic() + 60  # a bound for a broken kernel, not the measurement
    while _stats(cid)["cpu_throttled_periods"] < 3:
        assert time.monotonic() < deadline, "never throttled"
        time.sleep(0.1)
    first, t0 = _stats(cid), time.monotonic()
    while _stats(cid)["cpu_throttled_periods"] < first["cpu_throttled_periods"] + 10:
        assert time.monotonic() < deadline, "throttling stopped"
        time.sleep(0.1)
    second, t1 = _stats(cid), time.monotonic()
    share = (second["cpu_usage_ns"] - first["cpu_usage_ns"]) / ((t1 - t0) * 1e9)
    # Load on the machine can only lower the share; without the quota it would be ~1.0.
    assert share < 0.3, share
    rt.cli("delete", "--force", cid)
