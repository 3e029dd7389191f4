"""The informer against the real server: a watch from a compacted resourceVersion gets
410 Gone, and the informer re-lists and still reports what it missed."""

from __future__ import annotations

import asyncio
import threading

from minikube_py.api.informer import Informer
from minikube_py.api.testing import ThreadedApiServer
from minikube_py.controllers.adapter import adapt

from .conftest import wait_for


def cm(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}


def test_relist_after_410_gone(tmp_path):
    server = ThreadedApiServer(f"sqlite://{tmp_path}/state.db").start()
    inf = Informer(adapt(server.client), "configmaps", namespace="default")
    seen: list[tuple[str, str]] = []
    inf.add_handler(
        lambda o: seen.append(("add", o["metadata"]["name"])),
        lambda old, new: seen.append(("update", new["metadata"]["name"])),
        lambda o: seen.append(("delete", o["metadata"]["name"])),
    )
    thread = None
    try:
        c = server.client
        c.create(cm("mkpyt-ctl-a"))
        c.create(cm("mkpyt-ctl-b"))
        inf.relist()  # cache as of revision R
        # While we are "away": changes, then the server forgets the history after R.
        c.delete("configmaps", "mkpyt-ctl-a", "default")
        c.create(cm("mkpyt-ctl-c"))
        for i in range(5):
            c.patch("configmaps", "mkpyt-ctl-b", {"data": {"i": str(i)}}, "default")
        asyncio.run_coroutine_threadsafe(server.server.backend.compact(1), server.loop).result(10)
        thread = threading.Thread(target=inf.run, kwargs={"list_first": False}, daemon=True)
        thread.start()
        wait_for(lambda: inf.lists >= 2, what="a re-list after 410 Gone")
        wait_for(
            lambda: (
                {("delete", "mkpyt-ctl-a"), ("add", "mkpyt-ctl-c"), ("update", "mkpyt-ctl-b")} <= set(seen)
            ),
            what="the missed changes",
        )
        assert sorted(o["metadata"]["name"] for o in inf.list()) == ["mkpyt-ctl-b", "mkpyt-ctl-c"]
        # ...and it keeps watching from the new list.
        c.create(cm("mkpyt-ctl-d"))
        wait_for(lambda: ("add", "mkpyt-ctl-d") in seen, what="a change after the re-list")
    finally:
        inf.stop()
        if thread is not None:
            thread.join(5)
        server.stop()
