"""A harness that runs controllers against the in-memory FakeApi, deterministically:
`settle()` brings every informer cache up to date (a LIST diffed against the cache: the
same handler calls a watch would make) and drains every work queue, until nothing moves."""

from __future__ import annotations

import pytest

from minikube_py.api.informer import InformerFactory
from minikube_py.controllers.events import EventRecorder

from .fakeapi import FakeApi


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Harness:
    def __init__(self, api: FakeApi, clock: Clock) -> None:
        self.api, self.clock = api, clock
        self.informers = InformerFactory(api)
        self.recorder = EventRecorder(api, "kube-controller-manager", clock=clock)
        self.controllers: list = []

    def add(self, cls, **kwargs):
        c = cls(self.api, self.informers, self.recorder, clock=self.clock, **kwargs)
        self.controllers.append(c)
        return c

    def settle(self, rounds: int = 200, hook=None) -> int:
        """Relist + drain until quiet; `hook()` runs between rounds (e.g. a kubelet stand-in)."""
        total = 0
        for _ in range(rounds):
            self.informers.relist_all()
            moved = sum(c.drain() for c in self.controllers)
            if hook is not None:
                moved += hook() or 0
            total += moved
            if moved == 0:
                return total
        raise AssertionError("controllers did not settle")

    def events(self, reason: str | None = None) -> list[dict]:
        return [e for e in self.api.objs("events") if reason is None or e["reason"] == reason]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(clock) -> FakeApi:
    a = FakeApi(clock=clock)
    a.create("namespaces", {"metadata": {"name": "default"}})
    return a


@pytest.fixture
def harness(api, clock) -> Harness:
    return Harness(api, clock)
