"""Defaulting and validation, without a server."""

from __future__ import annotations

import copy

import pytest

from minikube_py.api.errors import ApiError
from minikube_py.api.objects import apply_defaults, validate, validate_update
from minikube_py.api.resources import lookup
from minikube_py.k8s.pod import qos_class


def causes(plural: str, obj: dict, old: dict | None = None) -> dict[str, str]:
    with pytest.raises(ApiError) as info:
        if old is None:
            validate(lookup(plural), obj)
        else:
            validate_update(lookup(plural), obj, old)
    assert info.value.code == 422
    return {c["field"]: c["reason"] for c in info.value.details["causes"]}


def pod(**spec) -> dict:
    return {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
    }


def test_pod_defaults():
    p = pod()
    p["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    p["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}}
    p["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "x"}}, {"name": "scratch"}]
    apply_defaults("pods", p)
    spec = p["spec"]
    assert (spec["restartPolicy"], spec["terminationGracePeriodSeconds"], spec["dnsPolicy"]) == (
        "Always",
        30,
        "ClusterFirst",
    )
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always" and c["ports"][0]["protocol"] == "TCP"
    assert c["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert spec["volumes"][0]["configMap"]["defaultMode"] == 420 and spec["volumes"][1] == {
        "name": "scratch",
        "emptyDir": {},
    }
    assert qos_class(spec) == "Guaranteed"
    assert qos_class({"containers": [{"resources": {"requests": {"cpu": "1"}}}]}) == "Burstable"
    assert qos_class({"containers": [{}]}) == "BestEffort"


def test_deployment_and_service_defaults():
    d = {
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}},
    }
    apply_defaults("deployments", d)
    assert d["spec"]["replicas"] == 1 and d["spec"]["revisionHistoryLimit"] == 10
    assert d["spec"]["progressDeadlineSeconds"] == 600
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": "25%"}
    assert d["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    s = {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}], "type": "NodePort"}}
    apply_defaults("services", s)
    assert s["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert s["spec"]["sessionAffinity"] == "None" and s["spec"]["externalTrafficPolicy"] == "Cluster"
    sec = {"metadata": {"name": "x"}, "stringData": {"k": "v"}}
    apply_defaults("secrets", sec)
    assert sec == {"metadata": {"name": "x"}, "type": "Opaque", "data": {"k": "dg=="}}
    node = {"metadata": {"name": "n"}, "status": {}}  # a kubelet may register without a spec
    apply_defaults("nodes", node)
    assert node["spec"] == {}


def test_pod_validation_names_every_bad_field():
    bad = pod(restartPolicy="Sometimes", dnsPolicy="Nope")
    bad["metadata"]["name"] = "Not_A_Name"
    bad["spec"]["containers"] += [
        {
            "name": "c",
            "image": "x",
            "ports": [{"containerPort": 0, "protocol": "ICMP"}],
            "resources": {"limits": {"cpu": "lots"}},
        },
        {"name": "d", "volumeMounts": [{"name": "ghost", "mountPath": "/g"}]},
    ]
    bad["spec"]["volumes"] = [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/"}}]
    got = causes("pods", bad)
    assert got == {
        "metadata.name": "FieldValueInvalid",
        "spec.containers[1].name": "FieldValueDuplicate",
        "spec.containers[1].ports[0].containerPort": "FieldValueInvalid",
        "spec.containers[1].ports[0].protocol": "FieldValueNotSupported",
        "spec.containers[1].resources.limits[cpu]": "FieldValueInvalid",
        "spec.containers[2].image": "FieldValueRequired",
        "spec.restartPolicy": "FieldValueNotSupported",
        "spec.dnsPolicy": "FieldValueNotSupported",
        "spec.volumes[0].hostPath": "FieldValueForbidden",  # the second volume type, as kube says
        "spec.containers[2].volumeMounts[0].name": "FieldValueNotFound",
    }
    assert causes("pods", {"metadata": {"name": "p", "namespace": "d"}, "spec": {}}) == {
        "spec.containers": "FieldValueRequired"
    }
    validate(lookup("pods"), pod())  # a good one passes


def test_other_kinds_validation():
    svc = {
        "metadata": {"name": "1svc", "namespace": "d"},
        "spec": {"type": "Magic", "ports": [{"port": 80}, {"port": 80, "nodePort": 5}]},
    }
    assert causes("services", svc) == {
        "metadata.name": "FieldValueInvalid",
        "spec.type": "FieldValueNotSupported",
        "spec.ports[0].name": "FieldValueRequired",
        "spec.ports[1].name": "FieldValueRequired",
        "spec.ports[1]": "FieldValueDuplicate",
        "spec.ports[1].nodePort": "FieldValueForbidden",
    }
    cm = {
        "metadata": {"name": "c", "namespace": "d", "labels": {"bad key": "v"}},
        "data": {"a b": "x", "n": 1},
    }
    assert causes("configmaps", cm) == {
        "metadata.labels": "FieldValueInvalid",
        "data[a b]": "FieldValueInvalid",
        "data[n]": "FieldValueInvalid",
    }
    sec = {"metadata": {"name": "s", "namespace": "d"}, "data": {"k": "not base64!"}}
    assert causes("secrets", sec) == {"data[k]": "FieldValueInvalid"}
    ns = {"metadata": {"name": "a.b"}}
    assert causes("namespaces", ns) == {"metadata.name": "FieldValueInvalid"}
    dep = {
        "metadata": {"name": "d", "namespace": "d"},
        "spec": {
            "replicas": -1,
            "selector": {"matchLabels": {"a": "b"}},
            "strategy": {"type": "Sideways"},
            "template": {
                "metadata": {"labels": {"a": "c"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    assert causes("deployments", dep) == {
        "spec.replicas": "FieldValueInvalid",
        "spec.template.metadata.labels": "FieldValueInvalid",
        "spec.template.spec.restartPolicy": "FieldValueNotSupported",
        "spec.strategy.type": "FieldValueNotSupported",
    }


def test_update_immutability():
    old = pod(nodeName="n1")
    apply_defaults("pods", old)
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "busybox:2"
    validate_update(lookup("pods"), new, old)  # image may change
    new["spec"]["containers"][0]["command"] = ["sh"]
    assert causes("pods", new, old) == {"spec": "FieldValueForbidden"}
    svc_old = {
        "metadata": {"name": "s", "namespace": "d"},
        "spec": {"clusterIP": "10.96.0.5", "ports": [{"port": 1}]},
    }
    svc_new = copy.deepcopy(svc_old)
    svc_new["spec"]["clusterIP"] = "10.96.0.6"
    assert causes("services", svc_new, svc_old) == {"spec.clusterIP": "FieldValueInvalid"}
