"""Small helpers on object metadata: keys, owner references, label selectors, times."""

from __future__ import annotations

import datetime as _dt
from typing import Any

Obj = dict[str, Any]


# ---------------------------------------------------------------- keys
def key_of(obj: Obj) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects: the work queue key."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{ns}/{md.get('name')}" if ns else str(md.get("name"))


def split_key(key: str) -> tuple[str | None, str]:
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def name_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def namespace_of(obj: Obj) -> str | None:
    return (obj.get("metadata") or {}).get("namespace")


def uid_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("uid", "")


def labels_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def annotations_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def is_deleting(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


# ---------------------------------------------------------------- owner references
def controller_ref(obj: Obj) -> dict | None:
    """The owner reference with controller=true: who manages this object."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Obj) -> dict:
    return {
        "apiVersion": owner.get("apiVersion"),
        "kind": owner.get("kind"),
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == uid_of(owner)


# ---------------------------------------------------------------- label selectors
class SelectorError(ValueError):
    """A label selector that cannot be evaluated (unknown operator, missing values)."""


def selector_matches(
    selector: dict | None, labels: dict[str, str] | None, *, empty_matches_all: bool = True
) -> bool:
    """metav1.LabelSelector semantics: matchLabels AND every matchExpressions entry.

    An empty selector matches everything for workloads; `empty_matches_all=False` makes it
    match nothing (what a Service without a selector means)."""
    labels = labels or {}
    if not selector or (not selector.get("matchLabels") and not selector.get("matchExpressions")):
        return empty_matches_all
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def _expression_matches(expr: dict, labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    raise SelectorError(f"matchExpressions: unknown operator {op!r} for key {key!r}")


def map_selector_matches(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    """A Service/ReplicationController style selector (a plain map); empty matches nothing."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def selector_to_string(selector: dict | None) -> str:
    """The `labelSelector=` query form of a LabelSelector (for list calls)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        op, key, vals = e.get("operator"), e.get("key"), ",".join(sorted(e.get("values") or []))
        parts.append(
            {
                "In": f"{key} in ({vals})",
                "NotIn": f"{key} notin ({vals})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[op]
        )
    return ",".join(parts)


# ---------------------------------------------------------------- time
def now_rfc3339(t: float) -> str:
    """metav1.Time: RFC 3339, UTC, second precision (`2026-11-26T13:58:43Z`)."""
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_rfc3339(t: float) -> str:
    """metav1.MicroTime (Lease renewTime, Event eventTime): microseconds."""
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str | None) -> float | None:
    if not s:
        return None
    text = s.replace("Z", "+00:00")
    try:
        return _dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
