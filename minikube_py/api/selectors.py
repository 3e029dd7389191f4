"""Label selectors (`app=web,tier!=db,env in (a,b),!canary`) and field selectors.

A parsed selector is a list of requirements, all of which must hold (AND), as in
k8s.io/apimachinery/pkg/labels. `from_label_selector` turns the structured form
(`matchLabels` / `matchExpressions`, used by Deployments and Services' owners) into the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import bad_request


class SelectorError(ValueError):
    pass


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


def from_label_selector(sel: dict[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelector -> LabelSelector. An empty selector matches everything."""
    sel = sel or {}
    reqs = [Requirement(k, "=", (str(v),)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in sel.get("matchExpressions") or []:
        op = ops.get(expr.get("operator", ""))
        if op is None:
            raise SelectorError(f"{expr.get('operator')!r} is not a valid label selector operator")
        reqs.append(Requirement(expr["key"], op, tuple(expr.get("values") or ())))
    return LabelSelector(reqs)


def selector_string(sel: dict[str, Any] | None) -> str:
    return str(from_label_selector(sel))


# ---------------------------------------------------------------- field selectors
# Fields each resource can be selected on, besides metadata.name and metadata.namespace
# (the apiserver answers others with 400 "field label not supported").
FIELDS: dict[str, dict[str, str]] = {
    "pods": {
        "spec.nodeName": "spec.nodeName",
        "status.phase": "status.phase",
        "spec.restartPolicy": "spec.restartPolicy",
        "spec.schedulerName": "spec.schedulerName",
        "spec.serviceAccountName": "spec.serviceAccountName",
        "status.podIP": "status.podIP",
        "status.nominatedNodeName": "status.nominatedNodeName",
    },
    "events": {
        f"involvedObject.{f}": f"involvedObject.{f}"
        for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    }
    | {
        "reason": "reason",
        "type": "type",
        "source": "source.component",
        "reportingComponent": "reportingComponent",
    },
    "secrets": {"type": "type"},
    "nodes": {"spec.unschedulable": "spec.unschedulable"},
    "namespaces": {"status.phase": "status.phase"},
    "replicasets": {"status.replicas": "status.replicas"},
}


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    op: str  # "=" or "!="
    value: str


class FieldSelector:
    def __init__(self, reqs: list[FieldRequirement]) -> None:
        self.requirements = reqs

    def matches(self, obj: dict[str, Any]) -> bool:
        for r in self.requirements:
            got = _field(obj, r.path)
            if (got == r.value) != (r.op == "="):
                return False
        return True

    def value_of(self, path: str) -> str | None:
        for r in self.requirements:
            if r.path == path and r.op == "=":
                return r.value
        return None


def parse_field_selector(text: str | None, plural: str) -> FieldSelector:
    if not text or not text.strip():
        return FieldSelector([])
    allowed = {
        "metadata.name": "metadata.name",
        "metadata.namespace": "metadata.namespace",
        **FIELDS.get(plural, {}),
    }
    reqs = []
    for part in text.split(","):
        part = part.strip()
        m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", part)
        if not m:
            raise SelectorError(f"invalid field selector: {part!r}")
        field, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
        if field not in allowed:
            raise SelectorError(f"field label not supported: {field}")
        reqs.append(FieldRequirement(allowed[field], "!=" if op == "!=" else "=", value))
    return FieldSelector(reqs)


def _field(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_or_400(label: str | None, field: str | None, plural: str) -> tuple[LabelSelector, FieldSelector]:
    try:
        return parse_label_selector(label), parse_field_selector(field, plural)
    except SelectorError as e:
        raise bad_request(str(e)) from None
