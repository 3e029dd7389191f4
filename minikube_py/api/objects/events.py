"""events.k8s.io/v1 <-> core/v1 Event: one stored object, two views (as the real apiserver does)."""

from __future__ import annotations

from typing import Any

# events.k8s.io/v1 field -> core/v1 field
_RENAMES = {
    "regarding": "involvedObject",
    "note": "message",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
    "reportingController": "reportingComponent",
}
_SAME = ("metadata", "eventTime", "series", "reason", "action", "type", "related", "reportingInstance")


def from_events_v1(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Event"}
    for k in _SAME:
        if k in obj:
            out[k] = obj[k]
    for new, old in _RENAMES.items():
        if new in obj:
            out[old] = obj[new]
    return out


def to_events_v1(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "events.k8s.io/v1", "kind": "Event"}
    for k in _SAME:
        if k in obj:
            out[k] = obj[k]
    for new, old in _RENAMES.items():
        if old in obj:
            out[new] = obj[old]
    return out
