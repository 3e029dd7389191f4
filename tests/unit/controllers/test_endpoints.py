"""Endpoints controller against the in-memory API."""

from minikube_py.controllers.endpoints import EndpointsController


def svc(api, ports, selector=None, **spec):
    return api.create(
        "services",
        {
            "metadata": {"name": "web", "namespace": "default", "labels": {"tier": "fe"}},
            "spec": {
                "selector": selector if selector is not None else {"app": "web"},
                "ports": ports,
                **spec,
            },
        },
    )


def pod(api, name, ip=None, ready=False, named_port=None, labels=None):
    ports = [{"name": named_port[0], "containerPort": named_port[1]}] if named_port else []
    api.create(
        "pods",
        {
            "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox", "ports": ports}]},
        },
    )
    if ip:
        api.set_pod_ready("default", name, ready=ready, ip=ip)


def test_ready_and_not_ready_addresses_with_target_refs(api, harness):
    harness.add(EndpointsController)
    svc(api, [{"name": "http", "port": 80, "targetPort": 8080}])
    pod(api, "a", "10.0.0.2", ready=True)
    pod(api, "b", "10.0.0.1", ready=False)
    pod(api, "c")  # no IP yet: not listed
    pod(api, "x", "10.0.0.9", True, labels={"app": "other"})
    harness.settle()
    ep = api.get("endpoints", "web", "default")
    [subset] = ep["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.2"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.0.0.1"]
    ref = subset["addresses"][0]["targetRef"]
    assert ref["kind"] == "Pod" and ref["name"] == "a" and ref["uid"]
    assert subset["addresses"][0]["nodeName"] == "n1"
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert ep["metadata"]["labels"] == {"tier": "fe"}


def test_endpoints_follow_readiness(api, harness):
    harness.add(EndpointsController)
    svc(api, [{"port": 80}])
    pod(api, "a", "10.0.0.2", ready=False)
    harness.settle()
    assert "addresses" not in api.get("endpoints", "web", "default")["subsets"][0]
    api.set_pod_ready("default", "a", ready=True)
    harness.settle()
    assert api.get("endpoints", "web", "default")["subsets"][0]["addresses"][0]["ip"] == "10.0.0.2"
    api.delete("pods", "a", "default")
    harness.settle()
    assert "subsets" not in api.get("endpoints", "web", "default")


def test_named_target_port_resolves_per_pod(api, harness):
    harness.add(EndpointsController)
    svc(api, [{"name": "http", "port": 80, "targetPort": "web"}])
    pod(api, "a", "10.0.0.1", True, named_port=("web", 8080))
    pod(api, "b", "10.0.0.2", True, named_port=("web", 9090))
    pod(api, "c", "10.0.0.3", True, named_port=("metrics", 7000))  # lacks the name: left out
    harness.settle()
    subsets = api.get("endpoints", "web", "default")["subsets"]
    got = {s["ports"][0]["port"]: [a["ip"] for a in s["addresses"]] for s in subsets}
    assert got == {8080: ["10.0.0.1"], 9090: ["10.0.0.2"]}


def test_service_without_selector_is_left_to_the_user_and_deleted_service_removes_endpoints(api, harness):
    harness.add(EndpointsController)
    svc(api, [{"port": 80}], selector={})
    harness.settle()
    assert api.objs("endpoints") == []
    api.delete("services", "web", "default")
    svc(api, [{"port": 80}])
    harness.settle()
    assert len(api.objs("endpoints")) == 1
    api.delete("services", "web", "default")
    harness.settle()
    assert api.objs("endpoints") == []
