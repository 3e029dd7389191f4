"""Unknown fields: `imagee: nginx` is a typo the real API server catches.

Kubernetes decodes JSON into typed structs, so a field the type does not have cannot be
stored: it is dropped, and depending on `?fieldValidation=` the request fails (`Strict`, what
kubectl sends), gets a `Warning:` header (`Warn`, the default) or nothing (`Ignore`).
We have no Go structs, so the field lists below spell out the types students write by hand
(object metadata, pod specs and containers, workloads, services, config); anything deeper
(probes, affinity, volumes' sources...) is not checked.
"""

from __future__ import annotations

import contextvars
from typing import Any

from ..errors import bad_request

# The Warning headers of the request being handled (set per request by the server).
WARNINGS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("warnings", default=None)

# field -> child schema: a name (object), [name] (list of objects), or None (not checked further)
Schema = dict[str, Any]


def _plain(*names: str) -> Schema:
    return dict.fromkeys(names)


SCHEMAS: dict[str, Schema] = {
    "ObjectMeta": _plain(
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    ),
    "PodTemplateSpec": {"metadata": "ObjectMeta", "spec": "PodSpec"},
    "PodSpec": {
        **_plain(
            "volumes",
            "restartPolicy",
            "terminationGracePeriodSeconds",
            "activeDeadlineSeconds",
            "dnsPolicy",
            "nodeSelector",
            "serviceAccountName",
            "serviceAccount",
            "automountServiceAccountToken",
            "nodeName",
            "hostNetwork",
            "hostPID",
            "hostIPC",
            "shareProcessNamespace",
            "securityContext",
            "imagePullSecrets",
            "hostname",
            "subdomain",
            "affinity",
            "schedulerName",
            "tolerations",
            "hostAliases",
            "priorityClassName",
            "priority",
            "dnsConfig",
            "readinessGates",
            "runtimeClassName",
            "enableServiceLinks",
            "preemptionPolicy",
            "overhead",
            "topologySpreadConstraints",
            "setHostnameAsFQDN",
            "os",
            "hostUsers",
            "schedulingGates",
            "resourceClaims",
            "ephemeralContainers",
        ),
        "containers": ["Container"],
        "initContainers": ["Container"],
    },
    "Container": {
        **_plain(
            "name",
            "image",
            "command",
            "args",
            "workingDir",
            "envFrom",
            "resources",
            "resizePolicy",
            "restartPolicy",
            "volumeDevices",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "lifecycle",
            "terminationMessagePath",
            "terminationMessagePolicy",
            "imagePullPolicy",
            "securityContext",
            "stdin",
            "stdinOnce",
            "tty",
        ),
        "ports": ["ContainerPort"],
        "env": ["EnvVar"],
        "volumeMounts": ["VolumeMount"],
    },
    "ContainerPort": _plain("name", "hostPort", "containerPort", "protocol", "hostIP"),
    "EnvVar": _plain("name", "value", "valueFrom"),
    "VolumeMount": _plain(
        "name", "readOnly", "recursiveReadOnly", "mountPath", "subPath", "mountPropagation", "subPathExpr"
    ),
    "DeploymentSpec": {
        **_plain(
            "replicas",
            "selector",
            "strategy",
            "minReadySeconds",
            "revisionHistoryLimit",
            "paused",
            "progressDeadlineSeconds",
        ),
        "template": "PodTemplateSpec",
    },
    "ReplicaSetSpec": {**_plain("replicas", "minReadySeconds", "selector"), "template": "PodTemplateSpec"},
    "ServiceSpec": {
        **_plain(
            "selector",
            "clusterIP",
            "clusterIPs",
            "type",
            "externalIPs",
            "sessionAffinity",
            "loadBalancerIP",
            "loadBalancerSourceRanges",
            "externalName",
            "externalTrafficPolicy",
            "healthCheckNodePort",
            "publishNotReadyAddresses",
            "sessionAffinityConfig",
            "ipFamilies",
            "ipFamilyPolicy",
            "allocateLoadBalancerNodePorts",
            "loadBalancerClass",
            "internalTrafficPolicy",
            "trafficDistribution",
        ),
        "ports": ["ServicePort"],
    },
    "ServicePort": _plain("name", "protocol", "appProtocol", "port", "targetPort", "nodePort"),
}

_OBJECT = {"apiVersion": None, "kind": None, "metadata": "ObjectMeta"}
TOP: dict[str, Schema] = {
    "pods": {**_OBJECT, "spec": "PodSpec", "status": None},
    "deployments": {**_OBJECT, "spec": "DeploymentSpec", "status": None},
    "replicasets": {**_OBJECT, "spec": "ReplicaSetSpec", "status": None},
    "services": {**_OBJECT, "spec": "ServiceSpec", "status": None},
    "configmaps": {**_OBJECT, **_plain("data", "binaryData", "immutable")},
    "secrets": {**_OBJECT, **_plain("data", "stringData", "type", "immutable")},
    "endpoints": {**_OBJECT, "subsets": None},
    "serviceaccounts": {**_OBJECT, **_plain("secrets", "imagePullSecrets", "automountServiceAccountToken")},
    "events": {
        **_OBJECT,
        **_plain(
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ),
    },
    "events.k8s.io/events": {
        **_OBJECT,
        **_plain(
            "eventTime",
            "series",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "regarding",
            "related",
            "note",
            "type",
            "deprecatedSource",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ),
    },
}
_SPEC_STATUS = {**_OBJECT, "spec": None, "status": None}


def _walk(obj: Any, schema: Schema, path: str, found: list[str]) -> None:
    if not isinstance(obj, dict):
        return
    for key in list(obj):
        if key not in schema:
            found.append(f"{path}{key}")
            del obj[key]  # like decoding into a struct: the field has nowhere to go
            continue
        child = schema[key]
        if isinstance(child, str):
            _walk(obj[key], SCHEMAS[child], f"{path}{key}.", found)
        elif isinstance(child, list) and isinstance(obj[key], list):
            for i, item in enumerate(obj[key]):
                _walk(item, SCHEMAS[child[0]], f"{path}{key}[{i}].", found)


def check_unknown_fields(plural: str, kind: str, api_version: str, obj: dict, mode: str | None) -> None:
    """Drop unknown fields from obj; Strict -> 400, Warn (default) -> Warning headers."""
    mode = mode or "Warn"
    if mode not in ("Strict", "Warn", "Ignore"):
        raise bad_request(
            f'fieldValidation: unsupported value "{mode}": supported values: Ignore, Strict, Warn'
        )
    found: list[str] = []
    _walk(
        obj,
        TOP.get(plural, TOP.get(plural.split("/")[-1], _SPEC_STATUS) if "/" in plural else _SPEC_STATUS),
        "",
        found,
    )
    if not found:
        return
    if mode == "Strict":
        fields = ", ".join(f'unknown field "{f}"' for f in found)
        raise bad_request(
            f'{kind} in version "{api_version.split("/")[-1]}" cannot be handled as a {kind}: '
            f"strict decoding error: {fields}"
        )
    warnings = WARNINGS.get()
    if mode == "Warn" and warnings is not None:
        warnings.extend(f'unknown field "{f}"' for f in found)
