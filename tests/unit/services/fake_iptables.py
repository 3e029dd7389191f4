"""An in-memory iptables with iptables-restore --noflush semantics, strict like the kernel's.

Used above the command line only: it checks that what the proxier loads is legal (no rule
jumping to a missing chain, no deleting a chain still referenced or non-empty) and lets a
test compare the resulting tables with the desired ruleset.
"""

from __future__ import annotations

import shlex

BUILTIN = {"nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"], "filter": ["INPUT", "FORWARD", "OUTPUT"]}
TARGETS = {"ACCEPT", "DROP", "RETURN", "REJECT", "DNAT", "SNAT", "MASQUERADE", "MARK", "LOG"}


class RestoreError(Exception):
    pass


class FakeIptables:
    backend = "fake"

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, list[str]]] = {t: {c: [] for c in cs} for t, cs in BUILTIN.items()}
        self.restores: list[str] = []
        self.saves = 0

    def save(self, table: str) -> str:
        self.saves += 1
        chains = self.tables[table]
        lines = [f"*{table}"] + [f":{c} - [0:0]" for c in chains]
        lines += [f"-A {c} {r}" for c, rules in chains.items() for r in rules] + ["COMMIT"]
        return "\n".join(lines) + "\n"

    def restore(self, text: str) -> None:
        self.restores.append(text)
        work = {t: {c: list(r) for c, r in cs.items()} for t, cs in self.tables.items()}
        table = None
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            if line.startswith("*"):
                table = work[line[1:]]
            elif line == "COMMIT":
                self._check(table)
                table = None
            elif line.startswith(":"):
                table[line[1:].split()[0]] = []  # create or flush
            else:
                op, chain, *rest = shlex.split(line)
                rule = line.split(None, 2)[2] if rest else ""
                if chain not in table:
                    raise RestoreError(f"{line}: no chain {chain}")
                if op == "-A":
                    table[chain].append(rule)
                elif op == "-I":
                    pos, _, rest_rule = rule.partition(" ")
                    if pos.isdigit():
                        table[chain].insert(int(pos) - 1, rest_rule)
                    else:
                        table[chain].insert(0, rule)
                elif op == "-D":
                    if rule not in table[chain]:
                        raise RestoreError(f"{line}: no such rule")
                    table[chain].remove(rule)
                elif op == "-X":
                    if table[chain]:
                        raise RestoreError(f"{line}: chain not empty")
                    if any(" -j " in f" {r}" and r.rsplit("-j ", 1)[1].split()[0] == chain
                           for rs in table.values() for r in rs):
                        raise RestoreError(f"{line}: chain still referenced")
                    del table[chain]
                else:
                    raise RestoreError(f"{line}: unknown op")
        self.tables = work  # all or nothing, like the kernel's per-table commit

    @staticmethod
    def _check(table: dict[str, list[str]]) -> None:
        for chain, rules in table.items():
            for r in rules:
                if " -j " in f" {r}":
                    target = r.rsplit("-j ", 1)[1].split()[0]
                    if target not in TARGETS and target not in table:
                        raise RestoreError(f"-A {chain} {r}: target {target} does not exist")

    def kube_chains(self, table: str) -> dict[str, list[str]]:
        return {c: r for c, r in self.tables[table].items() if c.startswith("KUBE-")}
