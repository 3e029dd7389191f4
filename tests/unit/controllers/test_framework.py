"""The informer (list, watch, 410 Gone -> re-list) and the work queue."""

import threading
import time

from minikube_py.api.informer import Informer
from minikube_py.controllers.workqueue import WorkQueue

from .fakeapi import FakeApi


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


def test_queue_dedups_and_never_hands_out_a_key_twice_at_once():
    q = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    k = q.get(0)
    assert k == "a"
    q.add("a")  # changed while processing: comes back after done()
    assert q.get(0) == "b"
    assert q.get(0) is None
    q.done("a")
    assert q.get(0) == "a"


def test_queue_rate_limit_doubles_and_forget_resets():
    now = [0.0]
    q = WorkQueue(base_delay=1.0, max_delay=5.0, clock=lambda: now[0])
    assert [q.add_rate_limited("k") for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    q.forget("k")
    assert q.add_rate_limited("k") == 1.0
    assert q.get(0) is None  # not due yet
    now[0] = 1.5
    assert q.get(0) == "k"


def test_informer_lists_watches_and_relists_after_410():
    api = FakeApi()
    api.create("namespaces", {"metadata": {"name": "default"}})
    api.create("configmaps", {"metadata": {"name": "a", "namespace": "default"}})
    seen = []
    lock = threading.Lock()

    def rec(kind):
        def f(*objs):
            with lock:
                seen.append((kind, objs[-1]["metadata"]["name"]))

        return f

    inf = Informer(api, "configmaps")
    inf.add_handler(rec("add"), rec("update"), rec("delete"))
    inf.start()
    try:
        assert inf.wait_for_sync(5)
        assert inf.get("a", "default")["kind"] == "ConfigMap"  # list items get their kind back
        api.create("configmaps", {"metadata": {"name": "b", "namespace": "default"}})
        api.patch("configmaps", "a", {"data": {"x": "1"}}, "default")
        assert wait_for(lambda: ("update", "a") in seen and ("add", "b") in seen)
        # The server forgets history while we are behind: the stream says 410, we re-list,
        # and the handlers still hear about what happened meanwhile.
        api.compact()
        api.delete("configmaps", "b", "default")
        api.create("configmaps", {"metadata": {"name": "c", "namespace": "default"}})
        assert wait_for(lambda: ("delete", "b") in seen and ("add", "c") in seen)
        assert inf.lists >= 2
        assert sorted(o["metadata"]["name"] for o in inf.list()) == ["a", "c"]
    finally:
        inf.stop()
    assert not inf._thread.is_alive()
