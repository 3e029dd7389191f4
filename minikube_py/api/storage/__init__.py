"""Key-value storage under the API server, with one global revision (like etcd v3).

`Backend` is the interface; `SQLiteBackend` (embedded default, kine-style) and
`EtcdBackend` (real etcd v3 through its JSON gateway) implement it. `open_backend(url)`
picks one from `sqlite:///path` or `etcd://host:port`.
"""

from __future__ import annotations

from .base import KV, Backend, Compacted, Event, KeyExists, KeyNotFound, RevisionMismatch, StoreError


def open_backend(url: str) -> Backend:
    if url.startswith("etcd://") or url.startswith("http://"):
        from .etcd import EtcdBackend

        return EtcdBackend(url)
    path = url.removeprefix("sqlite://")
    from .sqlite import SQLiteBackend

    return SQLiteBackend(path)


__all__ = [
    "KV",
    "Backend",
    "Compacted",
    "Event",
    "KeyExists",
    "KeyNotFound",
    "RevisionMismatch",
    "StoreError",
    "open_backend",
]
