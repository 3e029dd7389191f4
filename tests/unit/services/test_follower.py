"""The follower keeps the cache equal to an API (here a fake with the API client's list/watch)."""

import queue
import time

from minikube_py.network.proxy.source import ClusterObjects, Follower


class FakeWatch:
    def __init__(self, q):
        self.q = q

    def __iter__(self):
        while (ev := self.q.get()) is not None:
            yield ev

    def stop(self):
        self.q.put(None)


class FakeClient:
    def __init__(self):
        self.events = queue.Queue()
        self.watched_from = []

    def list(self, resource):
        assert resource == "services"
        return {"items": [{"metadata": {"name": "a", "namespace": "default"}}],
                "metadata": {"resourceVersion": "7"}}

    def watch(self, resource, resource_version=None):
        self.watched_from.append(resource_version)
        return FakeWatch(self.events)


def wait_for(cond):
    deadline = time.monotonic() + 5
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_list_then_watch_from_the_lists_resource_version():
    client, objects = FakeClient(), ClusterObjects()
    f = Follower(client, objects, kinds=["Service"]).start()
    try:
        assert f.wait_synced(5)
        wait_for(lambda: objects.get("Service", "default", "a") is not None)
        wait_for(lambda: client.watched_from == ["7"])
        client.events.put({"type": "ADDED", "object": {"metadata": {"name": "b", "namespace": "default"}}})
        client.events.put({"type": "DELETED", "object": {"metadata": {"name": "a", "namespace": "default"}}})
        wait_for(lambda: [o["metadata"]["name"] for o in objects.list("Service")] == ["b"])
    finally:
        f.stop()
