"""Backend -> ClusterIP:port, or why it is unavailable (a 503)."""

from __future__ import annotations

import pytest

from minikube_py.network.ingress.backends import Target, Unavailable, resolve
from minikube_py.network.ingress.routing import Backend

SVC = {"metadata": {"name": "web", "namespace": "default"},
       "spec": {"clusterIP": "10.96.0.7", "ports": [{"name": "http", "port": 80, "targetPort": 8080},
                                                    {"name": "admin", "port": 9000}]}}


def eps(ports: list[str], ready: bool = True) -> dict:
    subset: dict = {"ports": [{"name": p, "port": 1} for p in ports]}
    subset["addresses" if ready else "notReadyAddresses"] = [{"ip": "10.244.0.5"}]
    return {"subsets": [subset]}


def test_port_by_number_and_by_name():
    assert resolve(Backend("default", "web", 80), SVC, eps(["http"])) == Target("10.96.0.7", 80)
    assert resolve(Backend("default", "web", "admin"), SVC, eps(["admin"])) == Target("10.96.0.7", 9000)


@pytest.mark.parametrize(("backend", "service", "endpoints", "why"), [
    (Backend("default", "web", 80), None, None, "not found"),
    (Backend("default", "web", 81), SVC, eps(["http"]), "no port 81"),
    (Backend("default", "web", "nope"), SVC, eps(["http"]), "no port nope"),
    (Backend("default", "web", 80), SVC, None, "no ready endpoints"),
    (Backend("default", "web", 80), SVC, eps(["http"], ready=False), "no ready endpoints"),
    (Backend("default", "web", 80), SVC, eps(["admin"]), "no ready endpoints"),  # ready, other port
    (Backend("default", "web", 80), {"spec": {"clusterIP": "None", "ports": [{"port": 80}]}}, eps([""]),
     "headless"),
])
def test_unavailable(backend, service, endpoints, why):
    with pytest.raises(Unavailable, match=why):
        resolve(backend, service, endpoints)


def test_unnamed_single_port():
    svc = {"spec": {"clusterIP": "10.96.0.8", "ports": [{"port": 8080}]}}
    assert resolve(Backend("default", "s", 8080), svc, eps([""])) == Target("10.96.0.8", 8080)
