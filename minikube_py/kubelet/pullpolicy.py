"""imagePullPolicy: whether to pull before starting a container (kubelet's image manager).

Defaults (applied in podspec): `Always` for `:latest` or no tag, else `IfNotPresent`.
Decision: Always -> pull; IfNotPresent -> pull only when missing; Never -> never pull,
and a missing image is `ErrImageNeverPull`.
"""

from __future__ import annotations

from dataclasses import dataclass

from minikube_py.kubelet.podspec import default_image_pull_policy

__all__ = ["PullDecision", "decide", "default_image_pull_policy", "normalize_ref"]


@dataclass(frozen=True)
class PullDecision:
    pull: bool
    error_reason: str = ""        # waiting reason when the container cannot start
    message: str = ""


def decide(policy: str, image: str, present: bool) -> PullDecision:
    if policy == "Always" or (policy == "IfNotPresent" and not present):
        return PullDecision(True)
    if policy == "Never" and not present:
        return PullDecision(False, "ErrImageNeverPull",
                            f'Container image "{image}" is not present with pull policy of Never')
    return PullDecision(False, message=f'Container image "{image}" already present on machine')


def normalize_ref(image: str) -> str:
    """`busybox` -> `busybox:latest` (the name an image store files it under)."""
    last = image.rsplit("/", 1)[-1]
    return image if ("@" in image or ":" in last) else image + ":latest"
