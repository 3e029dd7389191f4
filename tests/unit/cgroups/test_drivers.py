"""The two drivers over a pretend cgroupfs (see conftest.py): what they create, write and remove."""

import os

import pytest

from minikube_py.runtime.cgroups import CgroupError, CgroupV1, CgroupV2, detect


def written(fs):
    return [(c.args[0], c.args[1]) for c in fs.calls if c.name == "write"]


def test_v2_create_enables_controllers_in_each_parent_on_the_way_down(v2fs):
    cg = CgroupV2("kubepods/burstable/pod1/c1", v2fs, mountpoint=v2fs.root)
    cg.create()
    r = v2fs.root
    assert [c.args[0] for c in v2fs.calls if c.name == "mkdir"] == [
        f"{r}/kubepods", f"{r}/kubepods/burstable", f"{r}/kubepods/burstable/pod1",
        f"{r}/kubepods/burstable/pod1/c1"]
    subtree = [p for p, _ in written(v2fs) if p.endswith("cgroup.subtree_control")]
    assert subtree == [f"{r}/cgroup.subtree_control", f"{r}/kubepods/cgroup.subtree_control",
                       f"{r}/kubepods/burstable/cgroup.subtree_control",
                       f"{r}/kubepods/burstable/pod1/cgroup.subtree_control"]
    assert ("+cpu +cpuset +io +memory +pids") in dict(written(v2fs)).values()
    # the leaf got the controllers' files, so limits can be written there
    assert os.path.exists(cg.dir + "/memory.max") and open(cg.dir + "/cgroup.controllers").read().split() == [
        "cpu", "cpuset", "io", "memory", "pids"]
    v2fs.calls.clear()
    cg.create()  # idempotent: nothing new to make or enable
    assert not [c for c in v2fs.calls if c.name in ("mkdir", "write")]


def test_v2_apply_writes_each_file_through_the_facade(v2fs):
    cg = CgroupV2("/mkpy/c1", v2fs, mountpoint=v2fs.root)
    cg.create()
    v2fs.calls.clear()
    cg.apply({"memory": {"limit": 1 << 26}, "cpu": {"shares": 512, "quota": 25000, "period": 100000},
              "blockIO": {"weight": 100}})
    assert written(v2fs) == [
        (f"{cg.dir}/memory.max", str(1 << 26)),
        (f"{cg.dir}/cpu.weight", "59"),   # 10**((9*9 + 125*9)/612 - 7/34) = 58.2, rounded up
        (f"{cg.dir}/cpu.max", "25000 100000"),
        (f"{cg.dir}/io.weight", "910"),     # no io.bfq.weight here: fell back to io.weight
    ]
    assert open(f"{cg.dir}/cpu.max").read() == "25000 100000"


def test_v2_invalid_resources_write_nothing(v2fs):
    cg = CgroupV2("/mkpy/c1", v2fs, mountpoint=v2fs.root)
    cg.create()
    v2fs.calls.clear()
    with pytest.raises(CgroupError, match=r"^linux.resources.pids.limit: must be an integer"):
        cg.apply({"memory": {"limit": 1 << 26}, "pids": {"limit": "lots"}})
    assert written(v2fs) == []


def test_v2_a_file_the_kernel_lacks_is_an_error_naming_the_field(v2fs):
    cg = CgroupV2("/mkpy/c1", v2fs, mountpoint=v2fs.root)
    cg.create()
    with pytest.raises(CgroupError, match=r"^linux.resources.hugepageLimits\[0\]: this kernel has no "
                                          r"hugetlb.1GB.max"):
        cg.apply({"hugepageLimits": [{"pageSize": "1GB", "limit": 0}]})


def test_v2_swap_file_missing_is_fine_when_asking_for_no_swap(v2fs):
    cg = CgroupV2("/mkpy/c1", v2fs, mountpoint=v2fs.root)
    cg.create()
    os.unlink(f"{cg.dir}/memory.swap.max")   # a kernel without swap accounting
    cg.apply({"memory": {"limit": 1000, "swap": 1000}})
    assert ("note:skip") in v2fs.names()
    with pytest.raises(CgroupError, match=r"^linux\.resources\.memory\.swap"):
        cg.apply({"memory": {"limit": 1000, "swap": 2000}})


def test_v2_stats_and_oom(v2fs):
    cg = CgroupV2("/mkpy/c1", v2fs, mountpoint=v2fs.root)
    cg.create()
    for name, text in {"memory.current": "4096\n", "memory.max": "max\n", "pids.current": "3\n",
                       "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
                       "cpu.stat": "usage_usec 1500\nuser_usec 1000\nnr_periods 9\nnr_throttled 7\n"}.items():
        with open(f"{cg.dir}/{name}", "w") as f:
            f.write(text)
    assert cg.stats() == {"memory_usage": 4096, "memory_limit": None, "cpu_usage_ns": 1_500_000,
                          "pids_current": 3, "oom_kills": 1, "cpu_throttled_periods": 7}
    assert cg.oom_killed()


def test_v2_destroy_removes_only_what_it_created(v2fs):
    CgroupV2("kubepods", v2fs, mountpoint=v2fs.root).create()
    cg = CgroupV2("kubepods/pod1/c1", v2fs, mountpoint=v2fs.root)
    cg.create()
    cg.destroy()
    removed = [c.args[0] for c in v2fs.calls if c.name == "rmdir"]
    assert removed == [f"{v2fs.root}/kubepods/pod1/c1", f"{v2fs.root}/kubepods/pod1"]
    assert os.path.isdir(v2fs.root + "/kubepods") and not cg.exists()


def test_v2_destroy_prune_removes_empty_parents_another_process_made(v2fs):
    CgroupV2("mkpy/c1", v2fs, mountpoint=v2fs.root).create()
    fresh = CgroupV2("mkpy/c1", v2fs, mountpoint=v2fs.root)   # e.g. `delete` in a new process
    fresh.destroy(prune=True)
    removed = [c.args[0] for c in v2fs.calls if c.name == "rmdir"]
    assert removed == [f"{v2fs.root}/mkpy/c1", f"{v2fs.root}/mkpy"]


def test_v1_create_makes_the_path_in_every_hierarchy_and_fills_cpuset(v1fs):
    h = {c: f"{v1fs.root}/{c}" for c in ("memory", "cpu", "cpuacct", "cpuset", "pids", "freezer")}
    cg = CgroupV1("/mkpy/c1", v1fs, hierarchies=h)
    cg.create()
    made = [c.args[0] for c in v1fs.calls if c.name == "mkdir"]
    assert f"{v1fs.root}/memory/mkpy/c1" in made and f"{v1fs.root}/freezer/mkpy/c1" in made
    assert len(made) == 12
    # a new cpuset is empty; the driver copied the parent's cpus and mems at each level
    assert open(f"{v1fs.root}/cpuset/mkpy/c1/cpuset.cpus").read() == "0-3"
    assert open(f"{v1fs.root}/cpuset/mkpy/c1/cpuset.mems").read() == "0"
    v1fs.calls.clear()
    cg.apply({"memory": {"limit": 1 << 26}, "cpu": {"quota": 10000, "period": 50000}, "pids": {"limit": 9}})
    assert written(v1fs) == [
        (f"{v1fs.root}/memory/mkpy/c1/memory.limit_in_bytes", str(1 << 26)),
        (f"{v1fs.root}/cpu/mkpy/c1/cpu.cfs_period_us", "50000"),
        (f"{v1fs.root}/cpu/mkpy/c1/cpu.cfs_quota_us", "10000"),
        (f"{v1fs.root}/pids/mkpy/c1/pids.max", "9"),
    ]
    v1fs.calls.clear()
    cg.add_process(4242)
    assert sorted(p for p, v in written(v1fs)) == sorted(f"{d}/mkpy/c1/cgroup.procs" for d in h.values())
    cg.destroy()
    assert not cg.exists()


def test_v1_controller_not_mounted_is_an_error_naming_the_field(v1fs):
    cg = CgroupV1("/mkpy/c1", v1fs, hierarchies={"memory": f"{v1fs.root}/memory"})
    cg.create()
    with pytest.raises(CgroupError, match=r"^linux.resources.pids.limit: the pids controller is not mounted"):
        cg.apply({"pids": {"limit": 5}})


HYBRID = """\
25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
28 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
"""
PURE_V2 = "25 30 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_detect_hybrid_is_v1_and_pure_is_v2(tmp_path):
    (tmp_path / "hybrid").write_text(HYBRID)
    (tmp_path / "pure").write_text(PURE_V2)
    assert detect(str(tmp_path / "hybrid")) == "v1"
    assert detect(str(tmp_path / "pure")) == "v2"


def test_v1_hierarchies_from_mountinfo_share_co_mounted_points(tmp_path):
    from minikube_py.runtime.cgroups.v1 import v1_hierarchies

    (tmp_path / "mi").write_text(HYBRID)
    assert v1_hierarchies(str(tmp_path / "mi")) == {"memory": "/sys/fs/cgroup/memory",
                                                    "cpu": "/sys/fs/cgroup/cpu,cpuacct",
                                                    "cpuacct": "/sys/fs/cgroup/cpu,cpuacct"}


def test_the_facade_records_rmdir_for_the_trace(tmp_path):
    from minikube_py.kernel.syscalls import Syscalls
    from minikube_py.kernel.trace import Tracer

    tracer = Tracer()
    (tmp_path / "gone").mkdir()
    Syscalls(tracer).rmdir(str(tmp_path / "gone"), why="remove the cgroup")
    assert not (tmp_path / "gone").exists()
    assert [(e.call, e.args["path"], e.why) for e in tracer.entries] == [
        ("rmdir", str(tmp_path / "gone"), "remove the cgroup")]


def test_v2_kill_all_without_cgroup_kill_freezes_signals_and_thaws(v2fs):
    import subprocess

    cg = CgroupV2("/mkpy/c1", v2fs, mountpoint=v2fs.root)
    cg.create()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        with open(f"{cg.dir}/cgroup.procs", "w") as f:
            f.write(f"{sleeper.pid}\n")
        with open(f"{cg.dir}/cgroup.events", "w") as f:
            f.write("populated 1\nfrozen 1\n")
        v2fs.calls.clear()
        cg.kill_all(timeout=5)
        assert sleeper.wait(timeout=5) == -9
        assert written(v2fs) == [(f"{cg.dir}/cgroup.freeze", "1"), (f"{cg.dir}/cgroup.freeze", "0")]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_v2_kill_all_uses_cgroup_kill_when_the_kernel_has_it(v2fs):
    cg = CgroupV2("/mkpy/c1", v2fs, mountpoint=v2fs.root)
    cg.create()
    open(f"{cg.dir}/cgroup.kill", "w").close()
    v2fs.calls.clear()
    cg.kill_all()
    assert written(v2fs) == [(f"{cg.dir}/cgroup.kill", "1")]
