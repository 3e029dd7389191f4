"""restartPolicy: should a container that is not running be (re)started?

kubelet's ShouldContainerBeRestarted, for regular and init containers:
never started -> start; running -> no; created/unknown -> start;
exited: Never -> no, OnFailure -> only after a non-zero exit, Always -> yes.
A pod being deleted never restarts anything.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LastRun:
    """What the kubelet knows about a container's latest instance."""
    state: str            # "running" | "exited" | "created" | "unknown"
    exit_code: int = 0


def should_restart(restart_policy: str, last: LastRun | None, deleting: bool = False) -> bool:
    if deleting:
        return False
    if last is None:
        return True
    if last.state == "running":
        return False
    if last.state in ("created", "unknown"):
        return True
    if restart_policy == "Never":
        return False
    if restart_policy == "OnFailure":
        return last.exit_code != 0
    return True


def init_container_failed_pod(restart_policy: str, last: LastRun | None) -> bool:
    """An init container that failed under restartPolicy Never fails the whole pod."""
    return restart_policy == "Never" and last is not None and last.state == "exited" \
        and last.exit_code != 0
