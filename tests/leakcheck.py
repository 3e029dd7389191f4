"""Snapshot the kernel state a test could leave behind, and compare two snapshots.

What is compared: mounts (whole mount table of this namespace), named network
namespaces (/run/netns), links in the host's namespace, cgroups whose name
marks them as the project's (mkpy*, kubepods*, minikube*) under either cgroup
hierarchy, iptables rules in the host's namespace that name the project, and
processes that run the project's code or its native programs.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field

import psutil

CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_NAMES = ("mkpy", "kubepods", "minikube")
PROCESS_MARKS = ("minikube_py", "mkpy-monitor", "mkpy-", "/bin/mkpy")
# Processes of the test session itself, not of a test: the VM lane's kernel, which boots beside the
# host tests (conftest.py adds its job path here before the boot).
SESSION_PROCESS_MARKS: list[str] = []


# `ip netns add` (and pyroute2) turn /run/netns into a shared mount of itself the
# first time a named netns is made on a machine; that is idempotent host setup.
IGNORED_MOUNTPOINTS = {"/run/netns", "/var/run/netns"}


def _mounts() -> Counter[str]:
    with open("/proc/self/mountinfo") as f:
        # mount point + fs type + source: ids change between snapshots, these do not
        return Counter(
            " ".join((p[4], p[p.index("-") + 1], p[p.index("-") + 2]))
            for p in (line.split() for line in f)
            if p[4] not in IGNORED_MOUNTPOINTS
        )


def _netns() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def _links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def _cgroups() -> set[str]:
    found = set()
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        depth = dirpath[len(CGROUP_ROOT) :].count("/")
        for d in dirnames:
            if d.startswith(CGROUP_NAMES):
                found.add(os.path.join(dirpath, d))
        if depth >= 3:
            dirnames[:] = []
        else:
            # only descend into hierarchies and into the project's own trees
            dirnames[:] = [
                d
                for d in dirnames
                if depth == 0 or d.startswith(CGROUP_NAMES) or d in ("system.slice", "user.slice")
            ]
    return found


def _iptables() -> set[str]:
    rules = set()
    for tool in ("iptables-save", "iptables-legacy-save"):
        try:
            out = subprocess.run([tool], capture_output=True, text=True, timeout=10).stdout
        except (FileNotFoundError, subprocess.TimeoutExpired):
            continue
        rules |= {
            f"{tool}: {line}" for line in out.splitlines() if any(m in line for m in ("KUBE", "MKPY", "mkpy"))
        }
    return rules


def _processes() -> dict[int, str]:
    me = os.getpid()
    found = {}
    for p in psutil.process_iter(["pid", "cmdline", "ppid"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
        except psutil.Error:
            continue
        if p.info["pid"] == me or "pytest" in cmd or any(m in cmd for m in SESSION_PROCESS_MARKS):
            continue
        if any(m in cmd for m in PROCESS_MARKS):
            found[p.info["pid"]] = cmd
    return found


@dataclass
class KernelSnapshot:
    mounts: Counter[str] = field(default_factory=Counter)
    netns: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    cgroups: set[str] = field(default_factory=set)
    iptables: set[str] = field(default_factory=set)
    processes: dict[int, str] = field(default_factory=dict)

    @classmethod
    def take(cls) -> KernelSnapshot:
        return cls(_mounts(), _netns(), _links(), _cgroups(), _iptables(), _processes())

    def leaks_since(self, before: KernelSnapshot, settle: float = 2.0) -> list[str]:
        """What is here now and was not before. Processes get `settle` seconds to exit.

        MKPY_LEAK_SCOPE (a regex), when set, keeps only the leaks it matches: for a
        developer running one area's tests while other work runs on the same machine.
        CI leaves it unset, so everything counts there.
        """
        scope = os.environ.get("MKPY_LEAK_SCOPE")
        deadline = time.monotonic() + settle
        now = self
        while True:
            leaks = now._diff(before)
            if scope:
                leaks = [leak for leak in leaks if re.search(scope, leak)]
            if not leaks or time.monotonic() > deadline:
                return leaks
            time.sleep(0.1)
            now = KernelSnapshot.take()

    def _diff(self, before: KernelSnapshot) -> list[str]:
        leaks = [f"mount: {m}" for m in sorted((self.mounts - before.mounts).elements())]
        leaks += [f"netns: {n}" for n in sorted(self.netns - before.netns)]
        leaks += [f"link in host netns: {n}" for n in sorted(self.links - before.links)]
        leaks += [f"cgroup: {c}" for c in sorted(self.cgroups - before.cgroups)]
        leaks += [f"iptables rule in host netns: {r}" for r in sorted(self.iptables - before.iptables)]
        leaks += [
            f"process {pid}: {cmd}"
            for pid, cmd in sorted(self.processes.items())
            if pid not in before.processes
        ]
        return leaks
