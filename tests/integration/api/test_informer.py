"""The informer keeps a local copy through watch, resumes, and relists after 410 Gone."""

from __future__ import annotations

import asyncio
import threading
import time

from minikube_py.api.informer import Informer
from minikube_py.api.registry import Registry
from minikube_py.api.resources import lookup
from minikube_py.api.storage.sqlite import SQLiteBackend
from minikube_py.api.testing import ThreadedApiServer


def wait_for(cond, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def cm(name: str, **data) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_informer_cache_handlers_and_relist_after_gone(tmp_path):
    db = f"sqlite://{tmp_path}/s.db"
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(kind: str):
        def handler(*objs):
            with lock:
                seen.append((kind, objs[-1]["metadata"]["name"]))

        return handler

    api = ThreadedApiServer(db).start()
    port = api.server.port
    c = api.client
    c.create(cm("before", v="1"))
    inf = Informer(
        c,
        "configmaps",
        "default",
        on_add=record("add"),
        on_update=record("update"),
        on_delete=record("delete"),
    ).start()
    try:
        assert inf.wait_for_sync(10)
        assert inf.get("before", "default")["data"] == {"v": "1"}
        c.create(cm("live"))
        c.patch("configmaps", "before", {"data": {"v": "2"}})
        c.delete("configmaps", "live")
        assert wait_for(lambda: ("delete", "live") in seen)
        assert seen == [("add", "before"), ("add", "live"), ("update", "before"), ("delete", "live")]
        assert inf.get("before", "default")["data"] == {"v": "2"} and inf.get("live", "default") is None

        # The server goes away. While it is down, things change and the log is compacted past the
        # informer's revision. Its watch resumes from that revision, gets 410 Gone, and the
        # informer relists and reports the differences to its handlers.
        api.stop()

        async def offline_changes() -> None:
            store = SQLiteBackend(f"{tmp_path}/s.db")
            reg = Registry(store)
            res = lookup("configmaps")
            await reg.create(res, "default", cm("while-away"))
            for i in range(3):
                patch = b'{"data": {"v": "x%d"}}' % i
                await reg.patch(res, "default", "before", patch, "application/merge-patch+json")
            await store.compact(1)
            await store.close()

        asyncio.run(offline_changes())
        api = ThreadedApiServer(db, port=port).start()
        assert wait_for(lambda: inf.get("while-away", "default") is not None)
        assert wait_for(lambda: inf.get("before", "default")["data"] == {"v": "x2"})
        assert inf.relists == 1
        assert seen[-2:] in (
            [("add", "while-away"), ("update", "before")],
            [("update", "before"), ("add", "while-away")],
        )
    finally:
        inf.stop()
        api.stop()
