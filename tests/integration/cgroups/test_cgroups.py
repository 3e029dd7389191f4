"""cgroups against the real kernel: v1 on the host, v2 in the VM lane ([uml] items)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from minikube_py.runtime.cgroups import STATS_KEYS, CgroupError, detect, open_cgroup
from minikube_py.runtime.cgroups.base import is_live

from .conftest import Child

pytestmark = [pytest.mark.integration, pytest.mark.vm]
MiB = 1 << 20


def test_memory_over_allocation_is_oom_killed_and_reported(cgroup):
    cgroup.apply({"memory": {"limit": 32 * MiB, "swap": 32 * MiB}})

    def hog(child):
        block = bytearray(256 * MiB)          # untouched pages cost nothing yet
        for i in range(0, len(block), 4096):  # touching them does
            block[i] = 1
        return "survived"

    status, said = Child(hog).start(cgroup).finish()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (status, said)
    assert cgroup.oom_killed()
    assert cgroup.stats()["oom_kills"] >= 1


def test_a_process_within_its_limit_is_not_oom_killed(cgroup):
    cgroup.apply({"memory": {"limit": 64 * MiB}})

    def modest(child):
        block = bytearray(8 * MiB)
        for i in range(0, len(block), 4096):
            block[i] = 1
        return "fine"

    status, said = Child(modest).start(cgroup).finish()
    assert os.waitstatus_to_exitcode(status) == 0 and "result fine" in said
    assert not cgroup.oom_killed()


def test_pids_max_stops_a_fork_bomb(cgroup):
    limit = 8
    cgroup.apply({"pids": {"limit": limit}})

    def bomb(child):
        r, w = os.pipe()
        made = refused = 0
        for _ in range(40):
            try:
                pid = os.fork()
            except BlockingIOError:     # EAGAIN: pids.max reached
                refused += 1
                continue
            if pid == 0:
                os.close(w)
                os.read(r, 1)           # park until the parent closes the pipe
                os._exit(0)
            made += 1
        child.say(f"forks {made} {refused}")
        child.wait()
        os.close(w)
        while True:
            try:
                os.wait()
            except ChildProcessError:
                return "reaped"

    child = Child(bomb).start(cgroup)
    _, made, refused = child.expect().split()
    assert cgroup.stats()["pids_current"] == limit       # the child and its forks fill the cgroup
    child.tell()
    status, said = child.finish()
    assert os.waitstatus_to_exitcode(status) == 0, said
    assert int(made) == limit - 1 and int(refused) == 40 - (limit - 1)


def test_cpu_quota_throttles(cgroup):
    # 10 ms of CPU per 100 ms period: a tenth of one CPU
    cgroup.apply({"cpu": {"quota": 10000, "period": 100000}})

    def spin(child):
        end = time.monotonic() + 0.4
        while time.monotonic() < end:
            pass

    started = time.monotonic_ns()
    status, said = Child(spin).start(cgroup).finish()
    wall_ns = time.monotonic_ns() - started
    assert os.waitstatus_to_exitcode(status) == 0, said
    stats = cgroup.stats()
    # Measured, not timed: the kernel counted throttled periods, and CPU used stayed far below wall time.
    assert stats["cpu_throttled_periods"] >= 1, stats
    assert 0 < stats["cpu_usage_ns"] < wall_ns / 2, (stats, wall_ns)


def test_stats_are_plausible(cgroup):
    cgroup.apply({"memory": {"limit": 128 * MiB}, "pids": {"limit": 20}})

    def hold(child):
        block = bytearray(16 * MiB)
        for i in range(0, len(block), 4096):
            block[i] = 1
        child.say("holding")
        child.wait()
        return len(block)

    child = Child(hold).start(cgroup)
    assert child.expect() == "holding"
    stats = cgroup.stats()
    assert set(stats) == set(STATS_KEYS)
    assert stats["memory_limit"] == 128 * MiB
    assert 16 * MiB <= stats["memory_usage"] <= 128 * MiB
    assert stats["pids_current"] == 1
    assert stats["cpu_usage_ns"] > 0
    assert stats["oom_kills"] == 0
    assert cgroup.procs() == [child.pid]
    child.tell()
    assert os.waitstatus_to_exitcode(child.finish()[0]) == 0


def test_kill_all_kills_the_whole_tree(cgroup):
    def family(child):
        r, _w = os.pipe()  # kept open: the grandchildren block until killed
        kids = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                os.read(r, 1)
                os._exit(0)
            kids.append(pid)
        child.say(" ".join(map(str, kids)))
        child.wait()

    child = Child(family).start(cgroup)
    kids = [int(p) for p in child.expect().split()]
    assert sorted(cgroup.procs()) == sorted([child.pid, *kids])
    cgroup.kill_all()
    status, _ = child.finish()
    assert os.WTERMSIG(status) == signal.SIGKILL
    assert not any(is_live(p) for p in kids)
    assert [p for p in cgroup.procs() if is_live(p)] == []


def test_destroy_refuses_while_processes_live_then_leaves_nothing(cgroup_factory):
    cg = cgroup_factory("kubepods/burstable/pod-1234/c1")   # the kubelet's shape of path
    cg.create()
    cg.apply({"memory": {"limit": 64 * MiB}, "cpu": {"shares": 512}, "pids": {"limit": 10}})
    child = Child(lambda c: c.wait()).start(cg)
    with pytest.raises(CgroupError, match=r"^cgroupsPath: cannot remove .* call kill_all\(\) first"):
        cg.destroy()
    cg.kill_all()
    child.finish()
    cg.destroy()
    assert not cg.exists()
    top = cgroup_factory.top
    if cg.version == "v2":
        assert not os.path.exists(f"/sys/fs/cgroup/{top}")
    else:
        assert not [mp for mp in cg.hierarchies.values() if os.path.exists(f"{mp}/{top}")]


def test_bad_value_is_refused_before_any_write(cgroup):
    before = cgroup.stats()
    with pytest.raises(CgroupError, match=r"^linux.resources.pids.limit: must be an integer"):
        cgroup.apply({"memory": {"limit": 16 * MiB}, "pids": {"limit": "many"}})
    assert cgroup.stats()["memory_limit"] == before["memory_limit"]


def test_a_value_the_kernel_rejects_names_the_field(cgroup):
    # The kernel's minimum CFS quota is 1 ms; 100 us is refused with EINVAL.
    with pytest.raises(CgroupError, match=r"^linux.resources.cpu.quota: writing .*100.* Invalid argument"):
        cgroup.apply({"cpu": {"quota": 100, "period": 100000}})


def test_detect_matches_the_mount():
    kind = detect()
    is_cgroup2_root = any(line.split()[4] == "/sys/fs/cgroup" and " - cgroup2 " in line
                          for line in open("/proc/self/mountinfo"))
    assert kind == ("v2" if is_cgroup2_root else "v1")
    assert open_cgroup("/mkpyt-cg-probe").version == kind


@pytest.mark.vm_only
def test_v2_enables_controllers_converts_shares_and_writes_unified(cgroup_factory):
    cg = cgroup_factory("pod/c1")
    cg.create()
    parent = os.path.dirname(cg.dir)
    assert {"memory", "cpu", "pids"} <= set(open(f"{parent}/cgroup.subtree_control").read().split())
    cg.apply({"cpu": {"shares": 1024, "quota": 50000, "period": 100000},
              "memory": {"limit": 64 * MiB, "swap": 64 * MiB},
              "unified": {"memory.high": str(48 * MiB)}})
    assert open(f"{cg.dir}/cpu.weight").read().strip() == "100"
    assert open(f"{cg.dir}/cpu.max").read().strip() == "50000 100000"
    assert open(f"{cg.dir}/memory.high").read().strip() == str(48 * MiB)
    if os.path.exists(f"{cg.dir}/memory.swap.max"):
        assert open(f"{cg.dir}/memory.swap.max").read().strip() == "0"


def test_device_rules_allow_only_what_they_list(cgroup, tmp_path):
    # v1: devices.deny/devices.allow files; v2: an eBPF program attached to the cgroup
    cgroup.apply({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},   # /dev/null
        {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "r"},     # /dev/urandom
    ]})
    node = str(tmp_path / "zero")

    def probe(child):
        def try_open(path, flags):
            try:
                os.close(os.open(path, flags))
                return "ok"
            except OSError as exc:
                return os.strerror(exc.errno)

        def try_mknod():
            try:
                os.mknod(node, 0o600 | 0o020000, os.makedev(1, 5))
                return "ok"
            except OSError as exc:
                return os.strerror(exc.errno)

        return [try_open("/dev/null", os.O_RDWR), try_open("/dev/urandom", os.O_RDONLY),
                try_open("/dev/urandom", os.O_WRONLY), try_open("/dev/zero", os.O_RDONLY), try_mknod()]

    status, said = Child(probe).start(cgroup).finish()
    assert os.waitstatus_to_exitcode(status) == 0, said
    denied = os.strerror(1)
    assert said.strip() == "result " + str(["ok", "ok", denied, denied, denied])


def test_io_throttle_for_a_device_that_is_not_there_names_the_field(cgroup):
    # 250:250 is no block device here; the kernel refuses the rule and the error says which one.
    with pytest.raises(CgroupError, match=r"^linux.resources.blockIO.throttleReadBpsDevice\[0\]: writing "):
        cgroup.apply({"blockIO": {"throttleReadBpsDevice": [{"major": 250, "minor": 250, "rate": 1 << 20}]}})
