"""Ingress and IngressClass in the API: discovery entry, validation (kube's field paths and error
types), defaulting, and the Table rows kubectl prints."""

from __future__ import annotations

import copy

import pytest

from minikube_py.api import tables
from minikube_py.api.errors import ApiError
from minikube_py.api.objects import apply_defaults, validate
from minikube_py.api.openapi import gv_document
from minikube_py.api.resources import lookup

GOOD = {
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": "svc-a", "port": {"number": 80}}}},
    ]}}]},
}


def causes(plural: str, obj: dict) -> dict[str, str]:
    with pytest.raises(ApiError) as info:
        validate(lookup(plural), obj)
    assert info.value.code == 422
    return {c["field"]: c["reason"] for c in info.value.details["causes"]}


def with_path(**fields) -> dict:
    obj = copy.deepcopy(GOOD)
    p = obj["spec"]["rules"][0]["http"]["paths"][0]
    for k, v in fields.items():
        if v is None:
            p.pop(k, None)
        else:
            p[k] = v
    return obj


def test_resources_are_registered_like_kube():
    ing, cls = lookup("ing"), lookup("ingressclasses")
    assert (ing.api_version, ing.kind, ing.namespaced, ing.has_status) == ("networking.k8s.io/v1", "Ingress",
                                                                          True, True)
    assert (cls.kind, cls.namespaced) == ("IngressClass", False)
    schemas = gv_document("networking.k8s.io", "v1")["components"]["schemas"]
    assert {"io.k8s.api.networking.v1.Ingress", "io.k8s.api.networking.v1.IngressClass"} <= set(schemas)


def test_a_good_ingress_passes():
    validate(lookup("ingresses"), GOOD)
    wild = copy.deepcopy(GOOD)
    wild["spec"]["rules"][0]["host"] = "*.example.com"
    validate(lookup("ingresses"), wild)


P = "spec.rules[0].http.paths[0]"


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"pathType": None}, f"{P}.pathType", "FieldValueRequired"),
    ({"pathType": "Regex"}, f"{P}.pathType", "FieldValueNotSupported"),
    ({"path": "foo"}, f"{P}.path", "FieldValueInvalid"),
    ({"path": "/a//b"}, f"{P}.path", "FieldValueInvalid"),
    ({"path": "/a/.."}, f"{P}.path", "FieldValueInvalid"),
    ({"backend": {"service": {"port": {"number": 80}}}}, f"{P}.backend.service.name", "FieldValueRequired"),
    ({"backend": {"service": {"name": "s"}}}, f"{P}.backend.service.port", "FieldValueRequired"),
    ({"backend": {"service": {"name": "s", "port": {"number": 80, "name": "http"}}}},
     f"{P}.backend.service.port", "FieldValueInvalid"),
    ({"backend": {"service": {"name": "s", "port": {"number": 70000}}}}, f"{P}.backend.service.port.number",
     "FieldValueInvalid"),
    ({"backend": {"service": {"name": "Bad_Name", "port": {"number": 80}}}}, f"{P}.backend.service.name",
     "FieldValueInvalid"),
])
def test_path_errors_name_kubes_fields(change, field, reason):
    assert causes("ingresses", with_path(**change)) == {field: reason}


def test_not_supported_lists_the_path_types():
    with pytest.raises(ApiError) as info:
        validate(lookup("ingresses"), with_path(pathType="Regex"))
    assert 'supported values: "Exact", "ImplementationSpecific", "Prefix"' in str(info.value)


@pytest.mark.parametrize("host", ["*.*.example.com", "a.*.example.com", "Example.com", "10.0.0.1", "*"])
def test_bad_hosts(host):
    obj = copy.deepcopy(GOOD)
    obj["spec"]["rules"][0]["host"] = host
    assert causes("ingresses", obj) == {"spec.rules[0].host": "FieldValueInvalid"}


def test_rules_or_default_backend_required_and_implementation_specific_may_omit_path():
    assert causes("ingresses", {"metadata": {"name": "x", "namespace": "default"}, "spec": {}}) == {
        "spec": "FieldValueInvalid"}
    validate(lookup("ingresses"), with_path(pathType="ImplementationSpecific", path=None))
    only_default = {"metadata": {"name": "x", "namespace": "default"},
                    "spec": {"defaultBackend": {"service": {"name": "s", "port": {"name": "http"}}}}}
    validate(lookup("ingresses"), only_default)


def test_ingress_class_validation_and_default_scope():
    ok = {"metadata": {"name": "mkpy"}, "spec": {"controller": "mkpy.io/ingress",
                                                  "parameters": {"kind": "Cfg", "name": "c"}}}
    apply_defaults("ingressclasses", ok)
    assert ok["spec"]["parameters"]["scope"] == "Cluster"
    validate(lookup("ingressclasses"), ok)
    assert causes("ingressclasses", {"metadata": {"name": "x"}, "spec": {"controller": "nodomain"}}) == {
        "spec.controller": "FieldValueInvalid"}
    assert causes("ingressclasses", {"metadata": {"name": "x"}, "spec": {}}) == {
        "spec.controller": "FieldValueRequired"}


def row(plural: str, obj: dict) -> list:
    return tables.row_for(lookup(plural), obj)[:-1]  # AGE last, depends on the clock


def test_ingress_table_like_kubectl():
    names = [c["name"] for c in tables.columns_for(lookup("ingresses"))]
    assert names == ["Name", "Class", "Hosts", "Address", "Ports", "Age"]
    assert row("ingresses", GOOD) == ["web", "<none>", "a.example.com", "", "80"]
    two = copy.deepcopy(GOOD)
    two["spec"]["ingressClassName"] = "mkpy"
    two["spec"]["rules"].append({"host": "b.example.com", "http": GOOD["spec"]["rules"][0]["http"]})
    two["spec"]["tls"] = [{"hosts": ["a.example.com"], "secretName": "cert"}]
    two["status"] = {"loadBalancer": {"ingress": [{"ip": "10.244.0.1"}]}}
    assert row("ingresses", two) == ["web", "mkpy", "a.example.com,b.example.com", "10.244.0.1", "80, 443"]
    nohost = copy.deepcopy(GOOD)
    del nohost["spec"]["rules"][0]["host"]
    assert row("ingresses", nohost)[2] == "*"
    many = copy.deepcopy(GOOD)
    many["spec"]["rules"] = [{"host": f"h{i}.example.com"} for i in range(5)]
    assert row("ingresses", many)[2] == "h0.example.com,h1.example.com,h2.example.com + 2 more..."


def test_ingress_class_table_like_kubectl():
    names = [c["name"] for c in tables.columns_for(lookup("ingressclasses"))]
    assert names == ["Name", "Controller", "Parameters", "Age"]
    plain = {"metadata": {"name": "mkpy"}, "spec": {"controller": "mkpy.io/ingress"}}
    assert row("ingressclasses", plain) == ["mkpy", "mkpy.io/ingress", "<none>"]
    params = {"metadata": {"name": "n"}, "spec": {"controller": "k8s.io/ingress-nginx", "parameters": {
        "apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}}
    assert row("ingressclasses", params)[2] == "IngressParameters.k8s.example.com/external-lb"
