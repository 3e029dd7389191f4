"""SQLite storage, the embedded default (the idea of k3s's kine, written small).

Two tables:
  objects(key, value, create_rev, mod_rev)  the current state, one row per object
  log(rev, key, type, value, prev_value, ...)  every change, rev = the global revision

One transaction writes both, so the revision a client sees (resourceVersion) always names a
log row. A watch replays `log` rows after the requested revision and then follows live
changes; compaction deletes old log rows, and asking for a revision before them is 410 Gone.

WAL mode with synchronous=FULL: a write is on disk before we answer, so SIGKILL at any point
loses nothing that was acknowledged.

All calls run on the event loop thread. SQLite is fast enough for a lab, and it makes every
write naturally serialized, so a watch's "replay, then go live" has no gap.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator

from .base import KV, Backend, Compacted, Event, KeyExists, KeyNotFound, RevisionMismatch

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    create_rev INTEGER NOT NULL,
    mod_rev INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    rev INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    type TEXT NOT NULL,
    value BLOB,
    create_rev INTEGER,
    prev_value BLOB,
    prev_create_rev INTEGER,
    prev_mod_rev INTEGER
);
CREATE INDEX IF NOT EXISTS log_key_rev ON log(key, rev);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

QUEUE_LIMIT = 10000  # a watcher this far behind is cut off; it resumes from its last revision


class _Subscriber:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.overflowed = False


class SQLiteBackend(Backend):
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._subs: list[_Subscriber] = []

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.open()

    def open(self) -> None:
        if self._db is not None:
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        self._db = db

    async def end_watches(self) -> None:
        for sub in self._subs:
            sub.queue.put_nowait(None)

    async def close(self) -> None:
        await self.end_watches()
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.open()
        assert self._db is not None
        return self._db

    # ------------------------------------------------------------------ reads
    async def get(self, key: str) -> KV | None:
        row = self.db.execute(
            "SELECT key, value, create_rev, mod_rev FROM objects WHERE key=?", (key,)
        ).fetchone()
        return KV(*row) if row else None

    async def list(
        self, prefix: str, *, start_after: str = "", limit: int = 0, revision: int = 0
    ) -> tuple[list[KV], int, bool]:
        """Current state, or the state as of an older `revision` (how a paged list stays one snapshot)."""
        lo = max(prefix, start_after + "\0") if start_after else prefix
        hi = _prefix_end(prefix)
        cur = self.db.cursor()
        cur.execute("BEGIN")
        try:
            rev = self._revision(cur)
            if revision and revision < rev:
                if revision < self._compact_rev(cur):
                    raise Compacted(revision, self._compact_rev(cur))
                rows = self._list_at(cur, lo, hi, revision, limit)
                rev = revision
            else:
                sql = "SELECT key, value, create_rev, mod_rev FROM objects WHERE key >= ? AND key < ?"
                sql += " ORDER BY key"
                args: tuple = (lo, hi)
                if limit:
                    sql += " LIMIT ?"
                    args += (limit + 1,)
                rows = cur.execute(sql, args).fetchall()
        finally:
            cur.execute("COMMIT")
        more = bool(limit) and len(rows) > limit
        if limit:
            rows = rows[:limit]
        return [KV(*r) for r in rows], rev, more

    @staticmethod
    def _list_at(cur: sqlite3.Cursor, lo: str, hi: str, revision: int, limit: int) -> list[tuple]:
        # The state at `revision`: keys untouched since then are as they are now; for a key
        # changed later, its first later log row remembers the value it replaced (prev_value),
        # which is the value it had at `revision` (NULL: it did not exist yet).
        sql = """
            SELECT key, value, create_rev, mod_rev FROM objects
             WHERE key >= ? AND key < ? AND mod_rev <= ?
            UNION ALL
            SELECT l.key, l.prev_value, l.prev_create_rev, l.prev_mod_rev FROM log l
             WHERE l.key >= ? AND l.key < ? AND l.prev_value IS NOT NULL
               AND l.rev = (SELECT MIN(rev) FROM log WHERE key = l.key AND rev > ?)
            ORDER BY key"""
        args: tuple = (lo, hi, revision, lo, hi, revision)
        if limit:
            sql += " LIMIT ?"
            args += (limit + 1,)
        return cur.execute(sql, args).fetchall()

    async def current_revision(self) -> int:
        return self._revision(self.db)

    @staticmethod
    def _revision(cur: sqlite3.Connection | sqlite3.Cursor) -> int:
        row = cur.execute("SELECT seq FROM sqlite_sequence WHERE name='log'").fetchone()
        return int(row[0]) if row else 0

    def compact_revision(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE name='compact_rev'").fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ writes
    async def create(self, key: str, value: bytes) -> int:
        with _txn(self.db) as cur:
            if cur.execute("SELECT 1 FROM objects WHERE key=?", (key,)).fetchone():
                raise KeyExists(key)
            rev = _log(cur, key, "PUT", value, None, None)
            cur.execute("UPDATE log SET create_rev=? WHERE rev=?", (rev, rev))
            cur.execute("INSERT INTO objects VALUES (?,?,?,?)", (key, value, rev, rev))
        self._publish(Event("PUT", key, rev, KV(key, value, rev, rev), None))
        return rev

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        with _txn(self.db) as cur:
            row = cur.execute(
                "SELECT key, value, create_rev, mod_rev FROM objects WHERE key=?", (key,)
            ).fetchone()
            if row is None:
                raise KeyNotFound(key)
            prev = KV(*row)
            if expected_revision and prev.mod_revision != expected_revision:
                raise RevisionMismatch(key, prev)
            rev = _log(cur, key, "PUT", value, prev, prev.create_revision)
            cur.execute("UPDATE objects SET value=?, mod_rev=? WHERE key=?", (value, rev, key))
        self._publish(Event("PUT", key, rev, KV(key, value, prev.create_revision, rev), prev))
        return rev

    async def delete(self, key: str, expected_revision: int = 0) -> tuple[int, KV]:
        with _txn(self.db) as cur:
            row = cur.execute(
                "SELECT key, value, create_rev, mod_rev FROM objects WHERE key=?", (key,)
            ).fetchone()
            if row is None:
                raise KeyNotFound(key)
            prev = KV(*row)
            if expected_revision and prev.mod_revision != expected_revision:
                raise RevisionMismatch(key, prev)
            rev = _log(cur, key, "DELETE", None, prev, None)
            cur.execute("DELETE FROM objects WHERE key=?", (key,))
        self._publish(Event("DELETE", key, rev, None, prev))
        return rev, prev

    async def compact(self, keep: int) -> int:
        with _txn(self.db) as cur:
            target = max(0, self._revision(cur) - keep)
            if target > self._compact_rev(cur):
                cur.execute("DELETE FROM log WHERE rev <= ?", (target,))
                cur.execute("INSERT OR REPLACE INTO meta VALUES ('compact_rev', ?)", (target,))
            return self._compact_rev(cur)

    @staticmethod
    def _compact_rev(cur: sqlite3.Connection | sqlite3.Cursor) -> int:
        row = cur.execute("SELECT value FROM meta WHERE name='compact_rev'").fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ watch
    def _publish(self, event: Event) -> None:
        for sub in list(self._subs):
            if sub.overflowed or not event.key.startswith(sub.prefix):
                continue
            if sub.queue.qsize() >= QUEUE_LIMIT:
                sub.overflowed = True
                sub.queue.put_nowait(None)
                continue
            sub.queue.put_nowait(event)

    async def watch(
        self,
        prefix: str,
        after_revision: int,  # type: ignore[override]
        progress_interval: float | None = None,
    ) -> AsyncIterator[Event]:
        # Subscribe first, then replay the log: nothing runs between these synchronous steps,
        # so the replay ends exactly where the live queue begins.
        sub = _Subscriber(prefix)
        self._subs.append(sub)
        try:
            compact_rev = self.compact_revision()
            if after_revision < compact_rev:
                raise Compacted(after_revision, compact_rev)
            rows = self.db.execute(
                "SELECT rev, key, type, value, create_rev, prev_value, prev_create_rev, prev_mod_rev "
                "FROM log WHERE rev > ? AND key >= ? AND key < ? ORDER BY rev",
                (after_revision, prefix, _prefix_end(prefix)),
            ).fetchall()
            last = after_revision
            for rev, key, typ, value, create_rev, pval, pcreate, pmod in rows:
                prev = KV(key, pval, pcreate, pmod) if pval is not None else None
                kv = KV(key, value, create_rev, rev) if typ == "PUT" else None
                last = rev
                yield Event(typ, key, rev, kv, prev)
            while True:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), progress_interval)
                except TimeoutError:
                    # Idle: publishing is synchronous, so an empty queue means every change
                    # up to the current revision has been delivered.
                    yield Event("PROGRESS", prefix, max(last, self._revision(self.db)), None, None)
                    continue
                if event is None:
                    return
                if event.revision > last:
                    last = event.revision
                    yield event
        finally:
            if sub in self._subs:
                self._subs.remove(sub)


class _txn:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error (the commit is the fsync point)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.cur = db.cursor()

    def __enter__(self) -> sqlite3.Cursor:
        self.cur.execute("BEGIN IMMEDIATE")
        return self.cur

    def __exit__(self, exc_type, exc, tb) -> None:
        self.cur.execute("ROLLBACK" if exc_type else "COMMIT")


def _log(
    cur: sqlite3.Cursor, key: str, typ: str, value: bytes | None, prev: KV | None, create_rev: int | None
) -> int:
    cur.execute(
        "INSERT INTO log (key, type, value, create_rev, prev_value, prev_create_rev, prev_mod_rev)"
        " VALUES (?,?,?,?,?,?,?)",
        (
            key,
            typ,
            value,
            create_rev,
            prev.value if prev else None,
            prev.create_revision if prev else None,
            prev.mod_revision if prev else None,
        ),
    )
    return int(cur.lastrowid or 0)


def _prefix_end(prefix: str) -> str:
    """Smallest string greater than every string starting with prefix (etcd's range_end)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
