"""etcd v3 storage, for clusters of several machines, through etcd's JSON gRPC gateway.

etcd already has what the API server needs: one global revision, compare-and-swap
transactions, and watches that resume from a revision (or say "compacted"). The gateway
speaks JSON over HTTP: keys and values are base64, int64s are strings, field names are the
protobuf names (range_end, mod_revision, ...).

  range        POST /v3/kv/range        {"key", "range_end", "limit", "revision"}
  transaction  POST /v3/kv/txn          {"compare": [...], "success": [...], "failure": [...]}
  watch        POST /v3/watch           {"create_request": {...}} -> one JSON object per line
  compaction   POST /v3/kv/compaction   {"revision", "physical"}

Several members: `etcd://h1:2379,h2:2379,h3:2379`. Requests go to one member until it cannot
be reached, then to the next (any member forwards writes to the leader, so which one we ask
does not matter). Only a refused or unreachable connection moves on: then nothing was sent,
so a write is never applied twice. A watch opens on whichever member answers.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from .base import KV, Backend, Compacted, Event, KeyExists, KeyNotFound, RevisionMismatch, StoreError

# A member on a machine that is off does not refuse, it stays silent: give up on it quickly.
CONNECT_TIMEOUT = 3.0


def _b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def _unb64(s: str | None) -> bytes:
    return base64.b64decode(s) if s else b""


def _prefix_end(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _kv(d: dict[str, Any]) -> KV:
    return KV(
        _unb64(d.get("key")).decode(),
        _unb64(d.get("value")),
        int(d.get("create_revision", 0)),
        int(d.get("mod_revision", 0)),
    )


class EtcdError(StoreError):
    pass


class EtcdBackend(Backend):
    def __init__(self, url: str) -> None:
        # etcd://host:port[,host:port...] -> every member's http://host:port
        hosts = [
            h.strip().removeprefix("http://").rstrip("/") for h in url.removeprefix("etcd://").split(",")
        ]
        if not all(hosts):
            raise ValueError(f"store: {url!r} has an empty etcd endpoint")
        self.endpoints = [f"http://{h}" for h in hosts]
        self._current = 0  # the member that answered last
        self._session: aiohttp.ClientSession | None = None
        self._streams: set[aiohttp.ClientResponse] = set()
        self._closing = False

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def end_watches(self) -> None:
        # Closing each stream's response wakes its reader at once (closing the session alone
        # leaves a pending read waiting).
        self._closing = True
        for resp in list(self._streams):
            resp.close()

    @property
    def base(self) -> str:
        return self.endpoints[self._current]

    async def _post(self, path: str, body: dict[str, Any], timeout: aiohttp.ClientTimeout):
        """POST to the current member, failing over to the next one that accepts a connection."""
        await self.start()
        assert self._session is not None
        n = len(self.endpoints)
        errors = []
        for i in range(n):
            idx = (self._current + i) % n
            try:
                resp = await self._session.post(self.endpoints[idx] + path, json=body, timeout=timeout)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as e:
                errors.append(f"{self.endpoints[idx]}: {e}")
                continue
            self._current = idx
            return resp
        raise EtcdError(f"etcd {path}: no member answered ({'; '.join(errors)})")

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with await self._post(
            path, body, aiohttp.ClientTimeout(total=30, sock_connect=CONNECT_TIMEOUT)
        ) as r:
            data = await r.json(content_type=None)
        if r.status != 200 or "error" in data:
            msg = data.get("error") or data.get("message") or str(data)
            if "compacted" in msg:
                raise Compacted(int(body.get("revision", 0)), 0)
            raise EtcdError(f"etcd {path}: {msg}")
        return data

    # ------------------------------------------------------------------ reads
    async def get(self, key: str) -> KV | None:
        data = await self._call("/v3/kv/range", {"key": _b64(key)})
        kvs = data.get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    async def list(
        self, prefix: str, *, start_after: str = "", limit: int = 0, revision: int = 0
    ) -> tuple[list[KV], int, bool]:
        body: dict[str, Any] = {
            "key": _b64(start_after + "\0" if start_after else prefix),
            "range_end": _b64(_prefix_end(prefix)),
        }
        if limit:
            body["limit"] = limit
        if revision:
            body["revision"] = revision  # paged lists read one consistent snapshot
        data = await self._call("/v3/kv/range", body)
        return (
            [_kv(k) for k in data.get("kvs") or []],
            int(data["header"]["revision"]),
            bool(data.get("more")),
        )

    async def current_revision(self) -> int:
        data = await self._call("/v3/kv/range", {"key": _b64("/"), "count_only": True})
        return int(data["header"]["revision"])

    # ------------------------------------------------------------------ writes (transactions)
    async def _txn(self, compare: list[dict], success: list[dict], failure: list[dict]) -> dict[str, Any]:
        return await self._call("/v3/kv/txn", {"compare": compare, "success": success, "failure": failure})

    async def create(self, key: str, value: bytes) -> int:
        k = _b64(key)
        data = await self._txn(
            [{"key": k, "result": "EQUAL", "target": "CREATE", "create_revision": 0}],
            [{"request_put": {"key": k, "value": _b64(value)}}],
            [],
        )
        if not data.get("succeeded"):
            raise KeyExists(key)
        return int(data["header"]["revision"])

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        k = _b64(key)
        compare = (
            [{"key": k, "result": "EQUAL", "target": "MOD", "mod_revision": expected_revision}]
            if expected_revision
            else [{"key": k, "result": "GREATER", "target": "CREATE", "create_revision": 0}]
        )
        data = await self._txn(
            compare, [{"request_put": {"key": k, "value": _b64(value)}}], [{"request_range": {"key": k}}]
        )
        if not data.get("succeeded"):
            current = self._failed_range(data)
            if current is None:
                raise KeyNotFound(key)
            raise RevisionMismatch(key, current)
        return int(data["header"]["revision"])

    async def delete(self, key: str, expected_revision: int = 0) -> tuple[int, KV]:
        k = _b64(key)
        compare = (
            [{"key": k, "result": "EQUAL", "target": "MOD", "mod_revision": expected_revision}]
            if expected_revision
            else [{"key": k, "result": "GREATER", "target": "CREATE", "create_revision": 0}]
        )
        data = await self._txn(
            compare, [{"request_delete_range": {"key": k, "prev_kv": True}}], [{"request_range": {"key": k}}]
        )
        if not data.get("succeeded"):
            current = self._failed_range(data)
            if current is None:
                raise KeyNotFound(key)
            raise RevisionMismatch(key, current)
        prev = data["responses"][0]["response_delete_range"].get("prev_kvs") or []
        if not prev:
            raise KeyNotFound(key)
        return int(data["header"]["revision"]), _kv(prev[0])

    @staticmethod
    def _failed_range(data: dict[str, Any]) -> KV | None:
        kvs = ((data.get("responses") or [{}])[0].get("response_range") or {}).get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    async def compact(self, keep: int) -> int:
        target = await self.current_revision() - keep
        if target <= 0:
            return 0
        try:
            await self._call("/v3/kv/compaction", {"revision": target, "physical": True})
        except EtcdError as e:
            if "compacted" not in str(e):
                raise
        return target

    # ------------------------------------------------------------------ watch
    async def watch(
        self,
        prefix: str,
        after_revision: int,  # type: ignore[override]
        progress_interval: float | None = None,
    ) -> AsyncIterator[Event]:
        req = {
            "create_request": {
                "key": _b64(prefix),
                "range_end": _b64(_prefix_end(prefix)),
                "start_revision": after_revision + 1,
                "prev_kv": True,
                "progress_notify": progress_interval is not None,
            }
        }
        async with await self._post(
            "/v3/watch", req, aiohttp.ClientTimeout(total=None, sock_read=None, sock_connect=CONNECT_TIMEOUT)
        ) as resp:
            self._streams.add(resp)
            try:
                async for event in self._events(resp, prefix, after_revision, progress_interval):
                    yield event
            except (aiohttp.ClientError, ConnectionError):
                if not self._closing:
                    raise
            finally:
                self._streams.discard(resp)

    async def _events(
        self, resp: aiohttp.ClientResponse, prefix: str, after_revision: int, progress_interval: float | None
    ) -> AsyncIterator[Event]:
        """Parse the gateway's stream: one JSON object per line, each a WatchResponse."""
        buf = b""
        async for chunk in resp.content.iter_any():
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                msg = json.loads(line)
                if "error" in msg:
                    raise EtcdError(f"etcd watch: {msg['error']}")
                result = msg.get("result") or {}
                if int(result.get("compact_revision", 0) or 0):
                    raise Compacted(after_revision, int(result["compact_revision"]))
                if result.get("canceled"):
                    raise EtcdError(f"etcd watch canceled: {result.get('cancel_reason', '')}")
                events = result.get("events") or []
                if not events and not result.get("created") and progress_interval is not None:
                    yield Event("PROGRESS", prefix, int(result["header"]["revision"]), None, None)
                for ev in events:
                    kv = _kv(ev["kv"])
                    prev = _kv(ev["prev_kv"]) if ev.get("prev_kv") else None
                    if ev.get("type") == "DELETE":
                        yield Event("DELETE", kv.key, kv.mod_revision, None, prev)
                    else:
                        yield Event("PUT", kv.key, kv.mod_revision, kv, prev)
            await asyncio.sleep(0)
