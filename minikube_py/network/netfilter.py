"""iptables inside a network namespace, with whichever backend works on this kernel.

Two implementations of the same iptables rules exist: nf_tables (`iptables-nft`,
Debian's default) and the older x_tables (`iptables-legacy`). Some kernels offer
only one (the user-mode-linux kernel of the VM lane has no nf_tables for IPv4),
so the backend is detected once by asking each candidate to list the nat table.
MKPY_IPTABLES=legacy|nft forces one. Rules are always loaded with
`iptables-restore --noflush`: one atomic transaction per change.
"""

from __future__ import annotations

import functools
import os
import subprocess

from minikube_py.network.errors import NetworkError
from minikube_py.network.netns import nsenter_argv

CANDIDATES = ("iptables", "iptables-legacy", "iptables-nft")


@functools.cache
def backend(netns: str | None = None) -> str:
    """The iptables command prefix that works here: "iptables", "iptables-legacy" or "iptables-nft"."""
    forced = os.environ.get("MKPY_IPTABLES")
    candidates = (f"iptables-{forced}",) if forced else CANDIDATES
    errors = []
    for tool in candidates:
        try:
            proc = subprocess.run(
                nsenter_argv(netns, [tool, "-w", "-t", "nat", "-S", "POSTROUTING"]),
                capture_output=True,
                text=True,
                timeout=30,
            )
        except FileNotFoundError:
            errors.append(f"{tool}: not installed")
            continue
        if proc.returncode == 0:
            return tool
        errors.append(f"{tool}: {proc.stderr.strip()}")
    raise NetworkError("no working iptables backend: " + "; ".join(errors))


def restore(netns: str | None, rules: str) -> None:
    """Load `rules` (iptables-save format) without flushing anything else they do not name."""
    tool = backend(netns) + "-restore"
    proc = subprocess.run(
        nsenter_argv(netns, [tool, "-w", "--noflush"]),
        input=rules,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise NetworkError(f"{tool} failed: {proc.stderr.strip()}\nrules were:\n{rules}")


def save(netns: str | None, table: str) -> str:
    tool = backend(netns) + "-save"
    proc = subprocess.run(
        nsenter_argv(netns, [tool, "-t", table]), capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        raise NetworkError(f"{tool} -t {table} failed: {proc.stderr.strip()}")
    return proc.stdout


def run(netns: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """One iptables command (e.g. removing a jump rule), with the detected backend."""
    proc = subprocess.run(
        nsenter_argv(netns, [backend(netns), "-w", *args]), capture_output=True, text=True, timeout=60
    )
    if check and proc.returncode != 0:
        raise NetworkError(f"{backend(netns)} {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc
