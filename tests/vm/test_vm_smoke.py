"""The VM lane's kernel is what the students' VMs are: pure cgroup v2 with the features we need."""

import os
import subprocess
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.vm_only]

CG = "/sys/fs/cgroup"


def test_cgroup2_offers_memory_cpu_pids_io():
    controllers = open(f"{CG}/cgroup.controllers").read().split()
    assert {"memory", "cpu", "pids", "io"} <= set(controllers)
    assert os.statvfs(CG) and open("/proc/self/cgroup").read().startswith("0::")


def test_memory_max_oom_kills_an_allocation_over_the_limit():
    cg = f"{CG}/mkpyt-oom"
    os.mkdir(cg)
    try:
        open(f"{cg}/memory.max", "w").write(str(32 * 1024 * 1024))
        open(f"{cg}/memory.swap.max", "w").write("0")
        code = (
            "import os; open('/sys/fs/cgroup/mkpyt-oom/cgroup.procs','w').write(str(os.getpid()));"
            "b = bytearray(128 * 1024 * 1024); print('survived')"
        )
        proc = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True)
        assert proc.returncode == -9, proc
        events = dict(line.split() for line in open(f"{cg}/memory.events"))
        assert int(events["oom_kill"]) >= 1
    finally:
        os.rmdir(cg)


def test_pids_max_stops_forks():
    cg = f"{CG}/mkpyt-pids"
    os.mkdir(cg)
    try:
        open(f"{cg}/pids.max", "w").write("5")
        script = (
            f"echo $$ > {cg}/cgroup.procs; n=0; for i in 1 2 3 4 5 6 7 8 9 10; do "
            "sleep 5 & n=$((n+1)); done; echo started=$n; kill $(jobs -p) 2>/dev/null; wait"
        )
        out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True)
        assert "fork" in out.stderr.lower() or "resource" in out.stderr.lower(), out
        assert int(open(f"{cg}/pids.events").read().split()[1]) >= 1
    finally:
        time.sleep(0.2)
        os.rmdir(cg)


def test_overlayfs_veth_bridge_and_iptables_nat_work(tmp_path):
    for d in ("lower", "upper", "work", "merged"):
        (tmp_path / d).mkdir()
    (tmp_path / "lower" / "f").write_text("lower")
    merged = str(tmp_path / "merged")
    subprocess.run(
        [
            "mount",
            "-t",
            "overlay",
            "ov",
            "-o",
            f"lowerdir={tmp_path}/lower,upperdir={tmp_path}/upper,workdir={tmp_path}/work",
            merged,
        ],
        check=True,
    )
    try:
        (tmp_path / "merged" / "g").write_text("upper")
        assert (tmp_path / "merged" / "f").read_text() == "lower"
        assert (tmp_path / "upper" / "g").exists()
    finally:
        subprocess.run(["umount", merged], check=True)

    ns = "mkpyt-smoke"
    sh = lambda *a: subprocess.run(a, check=True, capture_output=True, text=True)  # noqa: E731
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "netns", "exec", ns, "ip", "link", "add", "mkpyt-br", "type", "bridge")
        sh(
            "ip",
            "netns",
            "exec",
            ns,
            "ip",
            "link",
            "add",
            "mkpyt-a",
            "type",
            "veth",
            "peer",
            "name",
            "mkpyt-b",
        )
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "mkpyt-a", "master", "mkpyt-br")
        sh(
            "ip",
            "netns",
            "exec",
            ns,
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "10.99.0.0/24",
            "-j",
            "MASQUERADE",
        )
        sh(
            "ip",
            "netns",
            "exec",
            ns,
            "iptables",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            "0.5",
            "-j",
            "ACCEPT",
        )
        rules = sh("ip", "netns", "exec", ns, "iptables-save", "-t", "nat").stdout
        assert "MASQUERADE" in rules and "statistic" in rules
    finally:
        sh("ip", "netns", "del", ns)
