"""One set of pod spec rules for the API server and the kubelet (minikube_py/k8s/validation.py)."""

from __future__ import annotations

import pytest

from minikube_py.api.errors import ApiError
from minikube_py.api.objects.validation import validate
from minikube_py.api.resources import lookup
from minikube_py.kubelet import podspec

BAD_SPEC = {
    "restartPolicy": "Always",
    "volumes": [{"name": "v", "hostPath": {"path": "/x", "type": "Dir"}}, {"name": "w"}],
    "initContainers": [{"name": "setup", "image": "busybox",
                        "readinessProbe": {"exec": {"command": ["true"]}}}],
    "containers": [{
        "name": "app", "image": "busybox",
        "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}],
        "env": [{"name": "1BAD", "value": "x"},
                {"name": "REF", "valueFrom": {"secretKeyRef": {"name": "s"}}}],
        "volumeMounts": [{"name": "ghost", "mountPath": "/g"}],
        "livenessProbe": {"tcpSocket": {"port": "nope"}, "successThreshold": 2},
        "securityContext": {"runAsUser": -1},
    }],
}
WANT = {
    "spec.volumes[0].hostPath.type",
    "spec.volumes[1]",  # no volume type
    "spec.initContainers[0].readinessProbe",  # probes are for sidecars only
    "spec.containers[0].ports[1].name",
    "spec.containers[0].env[0].name",
    "spec.containers[0].env[1].valueFrom.secretKeyRef.key",
    "spec.containers[0].volumeMounts[0].name",
    "spec.containers[0].livenessProbe.tcpSocket.port",
    "spec.containers[0].livenessProbe.successThreshold",
    "spec.containers[0].securityContext.runAsUser",
}


def _api_fields(spec: dict) -> set[str]:
    with pytest.raises(ApiError) as exc:
        validate(lookup("pods"), {"metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    return {c["field"] for c in exc.value.details["causes"]}


def _kubelet_fields(spec: dict) -> set[str]:
    with pytest.raises(podspec.PodSpecError) as exc:
        podspec.parse_pod({"metadata": {"name": "p"}, "spec": spec})
    return {path for path, _ in exc.value.errors}


def test_the_api_server_and_the_kubelet_name_the_same_fields():
    assert _api_fields(BAD_SPEC) == WANT
    assert _kubelet_fields(BAD_SPEC) == WANT


def test_a_volume_type_the_kubelet_cannot_mount_is_still_a_valid_pod():
    spec = {"volumes": [{"name": "n", "nfs": {"server": "s", "path": "/"}}],
            "containers": [{"name": "c", "image": "i"}]}
    validate(lookup("pods"), {"metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    assert _kubelet_fields(spec) == {"spec.volumes[0]"}
