"""Field selectors (`spec.nodeName=n1`) for list/watch, and parsing both selector query
parameters into a 400 on bad input. Label selectors themselves live in minikube_py/k8s/selectors.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from minikube_py.k8s.selectors import LabelSelector, SelectorError, parse_label_selector

from .errors import bad_request

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
