"""Follow a service address through the nat chains, for a student: which rules would a packet meet?

Reads iptables-save text (from the live node namespace or anywhere) and prints the path
KUBE-SERVICES -> KUBE-SVC/KUBE-EXT -> KUBE-SEP, with the rule that leads to each step.
"""

from __future__ import annotations

import shlex


def parse_save(text: str) -> dict[str, list[str]]:
    """chain -> its rules (what follows `-A CHAIN`), for one table's iptables-save output."""
    chains: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith(":"):
            chains.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A "):
            _, chain, rule = line.split(" ", 2)
            chains.setdefault(chain, []).append(rule)
    return chains


def _target(rule: str) -> str | None:
    words = shlex.split(rule)
    for flag in ("-j", "-g"):
        if flag in words:
            return words[words.index(flag) + 1]
    return None


def _matches(rule: str, ip: str | None, port: int, proto: str) -> bool:
    """Does this rule match destination ip (None: a rule without -d) and port/proto?"""
    words = shlex.split(rule)
    dst = words[words.index("-d") + 1] if "-d" in words else None
    dport = words[words.index("--dport") + 1] if "--dport" in words else None
    p = words[words.index("-p") + 1] if "-p" in words else None
    wanted = (None,) if ip is None else (ip, f"{ip}/32")
    return dst in wanted and dport == str(port) and p in (None, proto)


def walk(save_text: str, ip: str, port: int, proto: str = "tcp") -> list[str]:
    """Lines describing the path of a new connection to ip:port (empty if no service matches)."""
    chains = parse_save(save_text)
    out: list[str] = []
    entry = next((r for r in chains.get("KUBE-SERVICES", []) if _matches(r, ip, port, proto)), None)
    if entry is not None:
        out.append(f"KUBE-SERVICES: {entry}")
    else:
        # Not a service address: maybe a NodePort on one of the node's own addresses (the last
        # rule of KUBE-SERVICES sends every local destination on to KUBE-NODEPORTS).
        entry = next((r for r in chains.get("KUBE-NODEPORTS", [])
                      if _matches(r, None, port, proto)), None)
        if entry is None:
            return out
        last = (chains.get("KUBE-SERVICES") or ["?"])[-1]
        out += [f"KUBE-SERVICES: {last}   (if {ip} is an address of this node)", f"KUBE-NODEPORTS: {entry}"]
    seen = set()
    todo = [(_target(entry), 1)]
    while todo:
        chain, depth = todo.pop(0)
        if not chain or chain in seen or chain not in chains:
            continue
        seen.add(chain)
        out.append(f"{'  ' * depth}{chain}:")
        for rule in chains[chain]:
            out.append(f"{'  ' * (depth + 1)}{rule}")
            nxt = _target(rule)
            if nxt and nxt.startswith(("KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-")):
                todo.append((nxt, depth + 1))
    return out
