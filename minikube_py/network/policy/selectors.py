"""Kubernetes label selectors: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)."""

from __future__ import annotations

from minikube_py.network.policy.errors import PolicyError


def matches(selector: dict | None, labels: dict | None, where: str = "selector") -> bool:
    """True if `labels` satisfy `selector`; an empty selector {} matches everything."""
    labels = labels or {}
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if not key:
            raise PolicyError(f"{where}.matchExpressions[{i}].key is required")
        if op == "In":
            ok = labels.get(key) in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            raise PolicyError(f"{where}.matchExpressions[{i}].operator {op!r} is not In, NotIn, Exists"
                              " or DoesNotExist")
        if not ok:
            return False
    return True
