"""Label selectors: the string form (`app=web,tier!=db,env in (a,b),!canary`) and the
structured form (`matchLabels` / `matchExpressions`) of Deployments, NetworkPolicies and node
affinity, plus the plain-map selector of Services.

A parsed selector is a list of requirements, all of which must hold (AND), as in
k8s.io/apimachinery/pkg/labels; both forms become the same `LabelSelector`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """A selector that cannot be parsed or evaluated; the message names the bad part."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        val = labels.get(self.key)
        if self.op in ("=", "=="):
            return has and val == self.values[0]
        if self.op == "!=":
            return not has or val != self.values[0]
        if self.op == "in":
            return has and val in self.values
        if self.op == "notin":
            return not has or val not in self.values
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("gt", "lt") and has:
            try:
                n, bound = int(val or ""), int(self.values[0])
            except ValueError:
                return False
            return n > bound if self.op == "gt" else n < bound
        return False

    def __str__(self) -> str:
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(self.values)})"
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        return f"{self.key}{self.op}{self.values[0]}"


class LabelSelector:
    def __init__(self, requirements: list[Requirement]) -> None:
        self.requirements = requirements

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_TOKEN = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the string form; raises SelectorError naming the bad part."""
    if not text or not text.strip():
        return LabelSelector([])
    tokens = [m.group(1) for m in _TOKEN.finditer(text)]
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise SelectorError(f"unable to parse requirement: {text!r}")
    reqs: list[Requirement] = []
    i = 0

    def take() -> str:
        nonlocal i
        if i >= len(tokens):
            raise SelectorError(f"unexpected end of selector {text!r}")
        i += 1
        return tokens[i - 1]

    while i < len(tokens):
        tok = take()
        if tok == "!":
            reqs.append(Requirement(_key(take()), "!"))
        else:
            key = _key(tok)
            nxt = tokens[i] if i < len(tokens) else ","
            if nxt == ",":
                reqs.append(Requirement(key, "exists"))
            elif nxt in ("=", "==", "!="):
                take()
                value = tokens[i] if i < len(tokens) and tokens[i] != "," else ""
                if value:
                    take()
                reqs.append(Requirement(key, "!=" if nxt == "!=" else "=", (_value(value),)))
            elif nxt in ("in", "notin"):
                take()
                if take() != "(":
                    raise SelectorError(f"expected '(' after {nxt} in {text!r}")
                values: list[str] = []
                while True:
                    t = take()
                    if t == ")":
                        break
                    if t == ",":
                        continue
                    values.append(_value(t))
                if not values:
                    raise SelectorError(f"{key} {nxt} (): at least one value is required")
                reqs.append(Requirement(key, nxt, tuple(values)))
            elif nxt in ("gt", "lt"):
                take()
                reqs.append(Requirement(key, nxt, (take(),)))
            else:
                raise SelectorError(f"unable to parse requirement near {nxt!r} in {text!r}")
        if i < len(tokens):
            if tokens[i] != ",":
                raise SelectorError(f"expected ',' near {tokens[i]!r} in {text!r}")
            i += 1
    return LabelSelector(reqs)


_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _key(tok: str) -> str:
    prefix, _, name = tok.rpartition("/")
    if not _NAME.match(name) or len(name) > 63 or (prefix and len(prefix) > 253):
        raise SelectorError(f"invalid label key {tok!r}")
    return tok


def _value(tok: str) -> str:
    if tok and (not _NAME.match(tok) or len(tok) > 63):
        raise SelectorError(f"invalid label value {tok!r}")
    return tok


_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def from_label_selector(sel: dict[str, Any] | None, where: str = "selector") -> LabelSelector:
    """metav1.LabelSelector -> LabelSelector. An empty selector matches everything.

    Raises SelectorError naming the bad entry under `where` (e.g. `spec.podSelector`)."""
    sel = sel or {}
    reqs = [Requirement(k, "=", (str(v),)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for i, expr in enumerate(sel.get("matchExpressions") or []):
        key, op = expr.get("key"), _OPERATORS.get(expr.get("operator", ""))
        if not key:
            raise SelectorError(f"{where}.matchExpressions[{i}].key is required")
        if op is None:
            raise SelectorError(
                f"{where}.matchExpressions[{i}].operator {expr.get('operator')!r} is not a valid label "
                "selector operator (In, NotIn, Exists or DoesNotExist)"
            )
        reqs.append(Requirement(key, op, tuple(expr.get("values") or ())))
    return LabelSelector(reqs)


def selector_matches(
    selector: dict | None,
    labels: dict[str, str] | None,
    *,
    empty_matches_all: bool = True,
    where: str = "selector",
) -> bool:
    """metav1.LabelSelector semantics: matchLabels AND every matchExpressions entry.

    An empty selector matches everything for workloads and NetworkPolicies;
    `empty_matches_all=False` makes it match nothing (what a ReplicaSet's adoption wants)."""
    if not selector or (not selector.get("matchLabels") and not selector.get("matchExpressions")):
        return empty_matches_all
    return from_label_selector(selector, where).matches(labels)


def map_selector_matches(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    """A Service/ReplicationController style selector (a plain map); empty matches nothing."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def node_requirement_matches(req: dict, labels: dict[str, str]) -> bool:
    """A NodeSelectorRequirement (node affinity): also Gt/Lt on integer values.

    Unlike a label selector, an unknown operator simply does not match."""
    key, op, values = req.get("key"), req.get("operator"), req.get("values") or []
    if op in ("Gt", "Lt"):
        if len(values) != 1:
            return False
        return Requirement(str(key), op.lower(), (str(values[0]),)).matches(labels)
    mapped = _OPERATORS.get(str(op))
    if mapped is None:
        return False
    return Requirement(str(key), mapped, tuple(values)).matches(labels)


def selector_string(sel: dict[str, Any] | None) -> str:
    return str(from_label_selector(sel))
