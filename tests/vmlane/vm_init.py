#!/usr/bin/python3
"""PID 1 of a VM-lane kernel. Standalone on purpose: it runs before anything is set up.

The host's root arrives as a *writable* hostfs mount, so the first thing done
is to stop writing to it: the host `/` becomes the read-only lower layer of an
overlay whose upper layer is a tmpfs in the VM's memory. Only the results
directory named by the job is bound back, so that is the only place the VM can
write on the host.

The job (a JSON file whose path arrives as the `mkpy_job` kernel parameter):
    {"argv": [...], "cwd": "...", "env": {...}, "results": "/host/dir", "hostname": "..."}
The command's output goes to the console (the host reads it from a pipe); its
exit code goes to <results>/exitcode.
"""

import ctypes
import json
import os
import subprocess
import sys
import time

MODULES = [
    "overlay",
    "veth",
    "bridge",
    "br_netfilter",
    "ip_tables",
    "iptable_nat",
    "iptable_filter",
    "xt_statistic",
    "xt_comment",
    "xt_conntrack",
    "xt_MASQUERADE",
    "xt_mark",
    "xt_addrtype",
    "xt_multiport",
    "xt_recent",
    "xt_tcpudp",
    "nf_conntrack_netlink",
    "vxlan",
]
SCRATCH = "/mnt"  # a VM tmpfs; not /tmp, so results dirs under the host /tmp stay visible
NEW_ROOT = SCRATCH + "/root"
# Fresh, in-memory directories for the job: container storage must not sit on the
# overlay root (overlayfs refuses an overlay upper there), and state must not persist.
VM_TMPFS = ("/tmp", "/run", "/var/lib/mkpy", "/var/log", "/etc/mkpy", "/etc/cni")


def run(*argv: str, check: bool = True) -> int:
    return subprocess.run(argv, check=check).returncode


def mount(fstype: str, source: str, target: str, options: str = "") -> None:
    os.makedirs(target, exist_ok=True)
    args = ["mount", "-t", fstype, source, target]
    if options:
        args[1:1] = ["-o", options]
    run(*args)


def power_off() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sync()
    libc.reboot(0x4321FEDC)  # LINUX_REBOOT_CMD_POWER_OFF


def setup(job: dict) -> None:
    release = os.uname().release
    mount("proc", "proc", "/proc")
    mount("sysfs", "sys", "/sys")
    mount("tmpfs", "vmscratch", SCRATCH, "size=2g")
    # Kernel modules for this UML kernel, reachable where modprobe looks.
    mount("tmpfs", "modules", "/lib/modules", "size=1m")
    os.symlink(f"/usr/lib/uml/modules/{release}", f"/lib/modules/{release}")
    run("modprobe", "overlay")

    # The protective overlay: host / read-only below, VM memory above.
    for d in (SCRATCH + "/upper", SCRATCH + "/work", NEW_ROOT):
        os.makedirs(d)
    mount("overlay", "vmroot", NEW_ROOT, f"lowerdir=/,upperdir={SCRATCH}/upper,workdir={SCRATCH}/work")
    os.makedirs(NEW_ROOT + "/.oldroot", exist_ok=True)
    os.chdir(NEW_ROOT)
    run("pivot_root", ".", ".oldroot")
    os.chroot(".")
    os.chdir("/")

    # A normal Linux userland on top, with container storage on tmpfs (overlayfs
    # cannot use the overlay root itself as an upper layer).
    mount("proc", "proc", "/proc")
    mount("sysfs", "sys", "/sys")
    mount("devtmpfs", "devtmpfs", "/dev")
    mount("devpts", "devpts", "/dev/pts", "newinstance,ptmxmode=0666")
    mount("tmpfs", "shm", "/dev/shm", "mode=1777")
    for path in VM_TMPFS:
        mount("tmpfs", "vmtmp", path, "mode=0755" if path != "/tmp" else "mode=1777")
    os.makedirs("/run/netns", exist_ok=True)
    # Paths the job needs that a VM tmpfs above now hides (a checkout under /tmp, say)
    # come back as their own overlay: host copy read-only below, VM memory above.
    for n, path in enumerate(job.get("visible", [])):
        if any(path == t or path.startswith(t + "/") for t in VM_TMPFS):
            # (the scratch tmpfs now sits under the old root)
            up, wk = f"/.oldroot{SCRATCH}/vis{n}/upper", f"/.oldroot{SCRATCH}/vis{n}/work"
            os.makedirs(up)
            os.makedirs(wk)
            os.makedirs(path, exist_ok=True)
            mount("overlay", "vmvisible", path, f"lowerdir=/.oldroot{path},upperdir={up},workdir={wk}")
    # The one way out to the host: the job's results directory, bound from the old root.
    results = job["results"]
    os.makedirs(results, exist_ok=True)
    run("mount", "--bind", "/.oldroot" + results, results)
    run("umount", "-l", "/.oldroot")
    mount("cgroup2", "cgroup2", "/sys/fs/cgroup")
    with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as f:
        f.write(" ".join("+" + c for c in open("/sys/fs/cgroup/cgroup.controllers").read().split()))
    if not os.path.exists(f"/lib/modules/{release}"):
        os.symlink(f"/usr/lib/uml/modules/{release}", f"/lib/modules/{release}")
    run("modprobe", "-a", "-q", *MODULES, check=False)  # one process: each start costs ~30 ms here
    # This kernel has no nftables for IPv4: the legacy iptables backend is the one that works.
    for tool in (
        "iptables",
        "iptables-save",
        "iptables-restore",
        "ip6tables",
        "ip6tables-save",
        "ip6tables-restore",
    ):
        legacy = f"/usr/sbin/{tool.replace('tables', 'tables-legacy', 1)}"
        if os.path.exists(legacy):
            link = f"/usr/sbin/{tool}"
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(legacy, link)
    run("ip", "link", "set", "lo", "up")
    hostname = job.get("hostname", "mkpy-vm")
    with open("/proc/sys/kernel/hostname", "w") as f:
        f.write(hostname)
    for extra in job.get("setup", []):
        run(*extra)


def main() -> None:
    os.environ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    job = json.load(open(os.environ["mkpy_job"]))
    code = 1
    try:
        t0 = time.monotonic()
        setup(job)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": "/root",
            "TERM": "dumb",
            "MKPY_IN_VM": "1",
            "LANG": "C.UTF-8",
            **job.get("env", {}),
        }
        print(f"vm-lane: set up in {time.monotonic() - t0:.2f}s; running {job['argv']}", flush=True)
        code = subprocess.run(job["argv"], cwd=job.get("cwd", "/"), env=env).returncode
    except BaseException as exc:  # noqa: BLE001 - PID 1 must never die with an exception
        print(f"vm-lane: init failed: {exc!r}", flush=True)
        code = 125
    finally:
        try:
            with open(os.path.join(job["results"], "exitcode"), "w") as f:
                f.write(str(code))
        finally:
            sys.stdout.flush()
            power_off()


if __name__ == "__main__":
    main()
