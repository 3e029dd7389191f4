"""Talk to iptables inside a node network namespace: pick the backend, save, restore.

Two kernels' worth of iptables exist: `iptables-nft` (rules as nftables objects) and
`iptables-legacy` (the old x_tables). They do not see each other's rules, and a kernel
may offer only one (the VM lane's user-mode-linux kernel has no nftables for IPv4), so
the backend is *probed*, the way kube-proxy's iptables-wrapper does: a backend that
already holds KUBE- (or the node network's MKPY-) chains wins, else the first that works.
MKPY_IPTABLES=nft|legacy forces one, as it does for the node network.

Commands run in the node namespace through `nsenter --net=PATH` (netns=None: this one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from minikube_py.network.proxy.errors import ProxyError

BACKENDS = ("nft", "legacy")


def in_netns(netns: str | None, argv: list[str]) -> list[str]:
    """argv run inside the network namespace at `netns` (a /run/netns/<name> path or /proc/PID/ns/net)."""
    return ["nsenter", f"--net={netns}", "--", *argv] if netns else argv


def _run(netns: str | None, argv: list[str], stdin: str | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(in_netns(netns, argv), input=stdin, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise ProxyError(f"{argv[0]} is not installed: {exc}") from None
    if check and proc.returncode != 0:
        raise ProxyError(f"{' '.join(argv)} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc


@dataclass(frozen=True)
class Iptables:
    """One backend in one namespace."""

    backend: str  # "nft" | "legacy"
    netns: str | None = None

    def tool(self, name: str = "iptables") -> str:
        # iptables -> iptables-nft, iptables-save -> iptables-nft-save, ...
        return name.replace("iptables", f"iptables-{self.backend}", 1)

    def save(self, table: str) -> str:
        return _run(self.netns, [self.tool("iptables-save"), "-t", table]).stdout

    def restore(self, text: str) -> None:
        """Load `text` atomically per table; --noflush keeps every chain the text does not declare."""
        _run(self.netns, [self.tool("iptables-restore"), "-w", "5", "--noflush"], stdin=text)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """One plain `iptables` call (the naive baseline in the benchmark, and probes)."""
        return _run(self.netns, [self.tool(), "-w", "5", *args], check=check)


_detected: dict[tuple[str | None, int], Iptables] = {}


def detect(netns: str | None = None) -> Iptables:
    """The backend to use in `netns`: the one already holding KUBE- chains, else the first that works.

    The answer is remembered per namespace (its nsfs inode, so a new namespace under an old
    name is probed again): probing costs a few processes, which a slow VM feels.
    """
    try:
        key = (netns, os.stat(netns or "/proc/self/ns/net").st_ino)
    except OSError as exc:
        raise ProxyError(f"network namespace {netns}: {exc}") from None
    if key not in _detected:
        _detected[key] = _probe(netns)
    return _detected[key]


def _probe(netns: str | None) -> Iptables:
    forced = os.environ.get("MKPY_IPTABLES")  # the same switch the node network honours
    if forced and forced not in BACKENDS:
        raise ProxyError(f"MKPY_IPTABLES={forced!r} is not one of {', '.join(BACKENDS)}")
    candidates = [Iptables(b, netns) for b in ((forced,) if forced else BACKENDS)
                  if shutil.which(f"iptables-{b}-restore")]
    if not candidates:
        raise ProxyError("neither iptables-nft-restore nor iptables-legacy-restore is installed")
    # Rules already in the namespace decide: the proxier's own from an earlier run, or the node
    # network's (MKPY-POSTROUTING...), so that all of a node's rules live in one backend.
    # Reading (iptables-save) does not create tables; probing with `iptables -S` would load the
    # legacy ones into the namespace, so look for existing rules first.
    for marker in (":KUBE-", ":MKPY-"):
        for ipt in candidates:
            proc = _run(netns, [ipt.tool("iptables-save")], check=False)
            if proc.returncode == 0 and marker in proc.stdout:
                return ipt
    # Listing works even where the kernel cannot hold a nat table (nft without IPv4 nat), so
    # the probe is a real write that undoes itself: make a chain and delete it in one commit.
    errors = []
    probe = "*nat\n:KUBE-PROXY-PROBE - [0:0]\n-X KUBE-PROXY-PROBE\nCOMMIT\n"
    for ipt in candidates:
        proc = _run(netns, [ipt.tool("iptables-restore"), "-w", "5", "--noflush"], stdin=probe, check=False)
        if proc.returncode == 0:
            return ipt
        errors.append(f"{ipt.backend}: {proc.stderr.strip()[:300]}")
    raise ProxyError("no iptables backend works in this namespace: " + "; ".join(errors))
