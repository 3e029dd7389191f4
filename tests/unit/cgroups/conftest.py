"""A pretend cgroupfs in a tmp dir, for driver unit tests that need no root.

FakeCgroupfs is the recording FakeSyscalls that also does what the kernel would:
mkdir makes the directory with the control files its parent's subtree_control
grants, and writes land in real files (so the driver can read them back).
"""

from __future__ import annotations

import os

import pytest

from minikube_py.kernel.fake import FakeSyscalls

V2_FILES = {
    "memory": ["memory.max", "memory.low", "memory.high", "memory.swap.max", "memory.current",
               "memory.events"],
    "cpu": ["cpu.max", "cpu.weight", "cpu.max.burst", "cpu.idle"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "pids": ["pids.max", "pids.current"],
    "io": ["io.max", "io.weight"],
    "hugetlb": ["hugetlb.2MB.max"],
}
V1_FILES = {
    "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
               "memory.swappiness", "memory.oom_control", "memory.usage_in_bytes"],
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.stat"],
    "cpuacct": ["cpuacct.usage"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "pids": ["pids.max", "pids.current"],
    "blkio": ["blkio.throttle.read_bps_device"],
    "freezer": ["freezer.state"],
}


class FakeCgroupfs(FakeSyscalls):
    def __init__(self, root: str, version: str) -> None:
        super().__init__()
        self.root, self.version = root, version

    def mkdir(self, path: str, mode: int = 0o755, why: str = "") -> None:
        super().mkdir(path, mode)
        os.mkdir(path, mode)
        if self.version == "v2":
            grants = open(os.path.join(os.path.dirname(path), "cgroup.subtree_control")).read().split()
            populate_v2(path, grants)
        else:
            controller = os.path.relpath(path, self.root).split("/")[0]
            populate_v1(path, controller)

    def rmdir(self, path: str, why: str = "") -> None:
        super().rmdir(path)
        for name in os.listdir(path):
            if os.path.isfile(os.path.join(path, name)):
                os.unlink(os.path.join(path, name))
        os.rmdir(path)

    def write_file(self, path: str, data: str, why: str = "") -> None:
        super().write_file(path, data)
        if path.endswith("cgroup.subtree_control"):
            current = set(open(path).read().split())
            for word in data.split():
                (current.add if word[0] == "+" else current.discard)(word[1:])
            data = " ".join(sorted(current))
        with open(path, "w") as f:
            f.write(data)


def populate_v2(path: str, controllers: list[str]) -> None:
    files = {"cgroup.controllers": " ".join(controllers), "cgroup.subtree_control": "", "cgroup.procs": "",
             "cpu.stat": "usage_usec 0\nnr_throttled 0\n"}
    for c in controllers:
        files.update(dict.fromkeys(V2_FILES.get(c, []), ""))
    for name, text in files.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text)


def populate_v1(path: str, controller: str) -> None:
    for name in ["cgroup.procs", *V1_FILES.get(controller, [])]:
        with open(os.path.join(path, name), "w") as f:
            f.write("9223372036854771712" if name == "memory.limit_in_bytes" else "")


@pytest.fixture
def v2fs(tmp_path):
    root = tmp_path / "cgroup2"
    root.mkdir()
    populate_v2(str(root), ["cpu", "cpuset", "io", "memory", "pids"])
    return FakeCgroupfs(str(root), "v2")


@pytest.fixture
def v1fs(tmp_path):
    root = tmp_path / "cgroup1"
    root.mkdir()
    for controller in V1_FILES:
        (root / controller).mkdir()
        populate_v1(str(root / controller), controller)
    (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    return FakeCgroupfs(str(root), "v1")
