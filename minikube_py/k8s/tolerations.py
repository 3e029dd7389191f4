"""Does a toleration tolerate a taint (v1.Toleration.ToleratesTaint)? Shared by the
scheduler (NoSchedule) and the node lifecycle controller (NoExecute)."""

from __future__ import annotations


def tolerates(toleration: dict, taint: dict) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if (toleration.get("operator") or "Equal") == "Exists":
        return True  # with an empty key: tolerates every taint
    if not toleration.get("key"):
        return False
    return (toleration.get("value") or "") == (taint.get("value") or "")
