"""The control loop against a real API server in this process (SQLite in tmp): which Ingresses it
takes, the status address it writes and takes back, its Events, and the API refusing a v1 Ingress
without pathType."""

from __future__ import annotations

import pytest
from waiting import wait_for

from minikube_py.api.errors import ApiError
from minikube_py.api.testing import ThreadedApiServer
from minikube_py.network.ingress.controller import IngressController, default_class, ensure_class


def ingress(name: str, cls: str | None = None, host: str = "a.example.com") -> dict:
    backend = {"service": {"name": "s", "port": {"number": 80}}}
    spec: dict = {"rules": [{"host": host, "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": backend}]}}]}
    if cls:
        spec["ingressClassName"] = cls
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def address(client, name: str) -> list:
    return ((client.get("ingresses", name, "default").get("status") or {}).get("loadBalancer") or {}).get(
        "ingress") or []


@pytest.fixture
def api(tmp_path):
    with ThreadedApiServer(f"sqlite://{tmp_path}/s.db") as server:
        yield server.client


def test_serves_its_class_writes_status_and_takes_it_back(api):
    assert ensure_class(api, default_class()) is True
    assert ensure_class(api, default_class()) is False          # exists: left alone
    api.create({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                "metadata": {"name": "other"}, "spec": {"controller": "example.com/other"}})
    api.create(ingress("mine"))                                 # no class: the default (ours)
    api.create(ingress("theirs", cls="other", host="b.example.com"))
    ctl = IngressController(api, "10.9.9.9").start()
    try:
        wait_for("status of mine", lambda: address(api, "mine") == [{"ip": "10.9.9.9"}], 20)
        assert address(api, "theirs") == []
        table = ctl.current()
        assert set(table.exact_hosts) == {"a.example.com"}      # b.example.com is another controller's
        events = api.list("events", "default")["items"]
        assert [(e["reason"], e["involvedObject"]["name"], e["message"]) for e in events] == [
            ("Sync", "mine", "Serving on 10.9.9.9:80")]

        # moved to the other class: no longer ours, our address is taken back
        moved = api.get("ingresses", "mine", "default")
        moved["spec"]["ingressClassName"] = "other"
        api.update(moved)
        wait_for("status of mine cleared", lambda: address(api, "mine") == [], 20)
        wait_for("an empty table", lambda: not ctl.current().exact_hosts, 20)
    finally:
        ctl.stop()


def test_the_api_refuses_an_ingress_without_path_type(api):
    bad = ingress("bad")
    del bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"]
    with pytest.raises(ApiError) as info:
        api.create(bad)
    assert info.value.code == 422
    want = "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
    assert want in str(info.value)
