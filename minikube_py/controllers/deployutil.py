"""The arithmetic of Deployments (deployment/util/deployment_util.go), as pure functions.

Everything here reads dicts and returns numbers or new dicts, so the unit tests can pin
the rules down without an API: maxSurge/maxUnavailable resolution and rounding, how big
the new ReplicaSet may grow, revisions, conditions, status.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from minikube_py.k8s.meta import now_rfc3339, parse_time

from .hashing import HASH_LABEL

Obj = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Deployment annotations not copied onto its ReplicaSets.
SKIP_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
}

# Condition reasons (deployment_util.go)
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


class DeploymentSpecError(ValueError):
    """A Deployment field the controller cannot use (e.g. maxSurge '25')."""


# ---------------------------------------------------------------- spec with defaults
def spec(d: Obj) -> dict:
    return d.get("spec") or {}


def replicas(obj: Obj) -> int:
    """spec.replicas of a Deployment or ReplicaSet (default 1)."""
    r = spec(obj).get("replicas")
    return 1 if r is None else int(r)


def strategy_type(d: Obj) -> str:
    return (spec(d).get("strategy") or {}).get("type") or "RollingUpdate"


def min_ready_seconds(d: Obj) -> int:
    return int(spec(d).get("minReadySeconds") or 0)


def revision_history_limit(d: Obj) -> int:
    v = spec(d).get("revisionHistoryLimit")
    return 10 if v is None else int(v)


def progress_deadline(d: Obj) -> int | None:
    v = spec(d).get("progressDeadlineSeconds", 600)
    return None if v is None else int(v)


def scaled_value(value: int | str | None, total: int, round_up: bool, field: str = "value") -> int:
    """intstr.GetScaledValueFromIntOrPercent: 3 -> 3; '25%' of 10 -> 3 (up) or 2 (down)."""
    if value is None:
        value = "25%"
    if isinstance(value, bool):
        raise DeploymentSpecError(f"{field}: must be an integer or a percentage, got {value!r}")
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"(\d+)%", str(value))
    if m is None:
        if re.fullmatch(r"\d+", str(value)):
            return int(value)
        raise DeploymentSpecError(f"{field}: must be an integer or a percentage like '25%', got {value!r}")
    scaled = int(m.group(1)) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods. Surge rounds up, unavailable rounds down; both 0
    would make a rollout impossible, so unavailable becomes 1 then."""
    ru = spec(d).get("strategy", {}).get("rollingUpdate") or {}
    desired = replicas(d)
    surge = scaled_value(ru.get("maxSurge"), desired, True, "spec.strategy.rollingUpdate.maxSurge")
    unavailable = scaled_value(
        ru.get("maxUnavailable"), desired, False, "spec.strategy.rollingUpdate.maxUnavailable"
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    return resolve_fenceposts(d)[0] if strategy_type(d) == "RollingUpdate" else 0


def max_unavailable(d: Obj) -> int:
    if strategy_type(d) != "RollingUpdate" or replicas(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas(d))


# ---------------------------------------------------------------- replica sets
def rs_replicas(rs: Obj | None) -> int:
    return 0 if rs is None else int(spec(rs).get("replicas") or 0)


def rs_status(rs: Obj | None, field: str) -> int:
    return 0 if rs is None else int((rs.get("status") or {}).get(field) or 0)


def sum_spec(rss: list[Obj | None]) -> int:
    return sum(rs_replicas(rs) for rs in rss)


def sum_status(rss: list[Obj | None], field: str) -> int:
    return sum(rs_status(rs, field) for rs in rss)


def revision(rs: Obj) -> int:
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def created(rs: Obj) -> tuple[float, str]:
    md = rs.get("metadata") or {}
    return (parse_time(md.get("creationTimestamp")) or 0.0, md.get("name", ""))


def template_without_hash(template: dict | None) -> dict:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
        if not labels:
            t["metadata"].pop("labels")
    if "metadata" in t and not t["metadata"]:
        t.pop("metadata")
    return t


def equal_ignore_hash(a: dict | None, b: dict | None) -> bool:
    return template_without_hash(a) == template_without_hash(b)


def find_new_rs(d: Obj, rss: list[Obj]) -> Obj | None:
    """The ReplicaSet whose template is the Deployment's (the oldest, if several)."""
    for rs in sorted(rss, key=created):
        if equal_ignore_hash(spec(rs).get("template"), spec(d).get("template")):
            return rs
    return None


def active(rss: list[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and rs_replicas(rs) > 0]


def new_rs_new_replicas(d: Obj, all_rss: list[Obj | None], new_rs: Obj) -> int:
    """How big the new ReplicaSet may be now (NewRSNewReplicas)."""
    if strategy_type(d) == "Recreate":
        return replicas(d)
    surge = max_surge(d)
    current = sum_spec(all_rss)
    max_total = replicas(d) + surge
    if current >= max_total:
        return rs_replicas(new_rs)  # cannot scale up any more
    scale_up = min(max_total - current, replicas(d) - rs_replicas(new_rs))
    return rs_replicas(new_rs) + scale_up


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    desired = ((rs.get("metadata") or {}).get("annotations") or {}).get(DESIRED_REPLICAS)
    return (
        rs_replicas(rs) == replicas(d)
        and desired == str(replicas(d))
        and rs_status(rs, "availableReplicas") == replicas(d)
    )


def proportion(rs: Obj, d: Obj, to_add: int, added: int, status_replicas: int) -> int:
    """GetReplicaSetProportion: this RS's share of a scale change, within what is left."""
    if rs_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if replicas(d) == 0:
        fraction = -rs_replicas(rs)
    else:
        new_max = replicas(d) + max_surge(d)
        try:
            before = int(((rs.get("metadata") or {}).get("annotations") or {}).get(MAX_REPLICAS, 0))
        except ValueError:
            before = 0
        if before == 0:
            before = status_replicas
        fraction = _round_half_away(rs_replicas(rs) * new_max / before) - rs_replicas(rs) if before else 0
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _round_half_away(x: float) -> int:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


# ---------------------------------------------------------------- conditions and status
def get_condition(status: dict, type_: str) -> dict | None:
    for c in status.get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def new_condition(type_: str, status: str, reason: str, message: str, now: float) -> dict:
    t = now_rfc3339(now)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": t,
        "lastTransitionTime": t,
        "reason": reason,
        "message": message,
    }


def set_condition(status: dict, cond: dict) -> None:
    """Same status and reason: keep the old one. Same status: keep its lastTransitionTime."""
    current = get_condition(status, cond["type"])
    if (
        current is not None
        and current.get("status") == cond["status"]
        and current.get("reason") == cond["reason"]
    ):
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]] + [
        cond
    ]


def remove_condition(status: dict, type_: str) -> None:
    if status.get("conditions"):
        status["conditions"] = [c for c in status["conditions"] if c.get("type") != type_]


def calculate_status(all_rss: list[Obj | None], new_rs: Obj | None, d: Obj, now: float) -> dict:
    available = sum_status(all_rss, "availableReplicas")
    total = sum_spec(all_rss)
    status: dict[str, Any] = {
        "observedGeneration": (d.get("metadata") or {}).get("generation", 0),
        "replicas": sum_status(all_rss, "replicas"),
        "updatedReplicas": rs_status(new_rs, "replicas"),
        "readyReplicas": sum_status(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
    }
    old = d.get("status") or {}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    status["conditions"] = copy.deepcopy(old.get("conditions") or [])
    if available >= replicas(d) - max_unavailable(d):
        set_condition(
            status,
            new_condition("Available", "True", MIN_AVAILABLE, "Deployment has minimum availability.", now),
        )
    else:
        set_condition(
            status,
            new_condition(
                "Available", "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.", now
            ),
        )
    return status


def deployment_complete(d: Obj, status: dict) -> bool:
    return (
        status.get("updatedReplicas", 0) == replicas(d)
        and status.get("replicas", 0) == replicas(d)
        and status.get("availableReplicas", 0) == replicas(d)
        and status.get("observedGeneration", 0) >= (d.get("metadata") or {}).get("generation", 0)
    )


def deployment_progressing(d: Obj, new: dict) -> bool:
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return (
        new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or new_old < old_old
        or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
    )


def deployment_timed_out(d: Obj, status: dict, now: float) -> bool:
    deadline = progress_deadline(d)
    cond = get_condition(status, "Progressing")
    if deadline is None or cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + deadline < now
