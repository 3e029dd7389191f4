"""The storage interface: bytes under string keys, every write stamped with a global revision.

The revision is what Kubernetes exposes as `metadata.resourceVersion`: one counter for the
whole store, bumped by every create/update/delete, so "give me every change after R" is a
well-defined question (that is what a watch resumes from).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


class StoreError(Exception):
    """Base of everything a backend raises; the registry maps these to API Status errors."""


class KeyExists(StoreError):
    pass


class KeyNotFound(StoreError):
    pass


class RevisionMismatch(StoreError):
    """Compare-and-swap lost: the key changed since the caller read it (HTTP 409)."""

    def __init__(self, key: str, current: KV | None) -> None:
        super().__init__(key)
        self.current = current


class Compacted(StoreError):
    """The requested revision is older than the oldest change kept (HTTP 410 Gone)."""

    def __init__(self, requested: int, compact_revision: int) -> None:
        super().__init__(
            f"required revision {requested} has been compacted (oldest kept: {compact_revision})"
        )
        self.requested = requested
        self.compact_revision = compact_revision


@dataclass(frozen=True)
class KV:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True)
class Event:
    """One change. For a delete, `kv` is None and `prev` holds the last value."""

    type: str  # "PUT" | "DELETE" | "PROGRESS" (nothing else changed under the prefix up to revision)
    key: str
    revision: int
    kv: KV | None
    prev: KV | None


class Backend:
    """Async interface shared by SQLite and etcd."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def end_watches(self) -> None:
        """Make every open watch finish (server shutdown), before close()."""

    async def get(self, key: str) -> KV | None:
        raise NotImplementedError

    async def list(
        self, prefix: str, *, start_after: str = "", limit: int = 0, revision: int = 0
    ) -> tuple[list[KV], int, bool]:
        """Keys under prefix in key order, after start_after; returns (items, store revision, more)."""
        raise NotImplementedError

    async def create(self, key: str, value: bytes) -> int:
        """Write a new key; KeyExists if present. Returns the new revision."""
        raise NotImplementedError

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        """Compare-and-swap on mod_revision; RevisionMismatch or KeyNotFound otherwise."""
        raise NotImplementedError

    async def delete(self, key: str, expected_revision: int = 0) -> tuple[int, KV]:
        """Delete (optionally only at expected_revision); returns (revision, last value)."""
        raise NotImplementedError

    async def current_revision(self) -> int:
        raise NotImplementedError

    async def compact(self, keep: int) -> int:
        """Forget changes older than the newest `keep` revisions; returns the compact revision."""
        raise NotImplementedError

    def watch(
        self, prefix: str, after_revision: int, progress_interval: float | None = None
    ) -> AsyncIterator[Event]:
        """Every change under prefix with revision > after_revision, then live ones, in order.

        Raises Compacted (before yielding) when after_revision is no longer kept. With a
        progress_interval, an idle watch yields PROGRESS events carrying a revision up to
        which nothing is pending (what Kubernetes turns into BOOKMARK events).
        """
        raise NotImplementedError
