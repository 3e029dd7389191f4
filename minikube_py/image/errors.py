"""The one error type of the image layer.

`reason` is a short machine-readable word the kubelet maps to a pod status
(NotFound/Unauthorized/Unreachable -> ErrImagePull); the message is for people
and carries the registry's own answer when there is one.
"""

from __future__ import annotations


class ImageError(Exception):
    REASONS = ("NotFound", "Unauthorized", "Unreachable", "DigestMismatch", "Invalid", "InUse", "Registry")

    def __init__(self, message: str, reason: str = "Invalid") -> None:
        super().__init__(message)
        self.reason = reason
