"""Defaults the apiserver fills in, as k8s.io/kubernetes/pkg/apis/*/v1/defaults.go does.

`apply_defaults(plural, obj)` mutates obj. Defaults are applied on create and update, so an
update that leaves a field out gets the same default back instead of an error.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from minikube_py.k8s.pod import default_pod_spec


def apply_defaults(plural: str, obj: dict[str, Any]) -> None:
    obj.setdefault("metadata", {})
    fn = _DEFAULTERS.get(plural)
    if fn:
        fn(obj)


def _spec(obj: dict) -> dict:
    if not isinstance(obj.get("spec"), dict):
        obj["spec"] = {}
    return obj["spec"]


# ---------------------------------------------------------------- pods
def _pod(obj: dict) -> None:
    default_pod_spec(_spec(obj))


def _template_owner(obj: dict) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    tpl = spec.get("template")
    if isinstance(tpl, dict):
        meta = tpl.setdefault("metadata", {})
        if isinstance(meta, dict):
            # Go decodes `null` as the zero value, i.e. "not set": kubectl sends a template's
            # `creationTimestamp: null` (rollout undo copies a ReplicaSet's template). Kept, it
            # would make the template differ from the old ReplicaSet's, and undo would start a
            # new ReplicaSet instead of scaling the old one back up.
            for key in [k for k, v in meta.items() if v is None]:
                del meta[key]
        if not isinstance(tpl.get("spec"), dict):
            tpl["spec"] = {}
        default_pod_spec(tpl["spec"])


def _deployment(obj: dict) -> None:
    _template_owner(obj)
    spec = obj["spec"]
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", "25%")
            ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _service(obj: dict) -> None:
    spec = _spec(obj)
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            if "port" in p:
                p.setdefault("targetPort", p["port"])
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _endpoints(obj: dict) -> None:
    for subset in obj.get("subsets") or []:
        for p in (subset or {}).get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")


def _secret(obj: dict) -> None:
    obj.setdefault("type", "Opaque")
    # stringData is a write-only convenience: merged into data (base64) and dropped.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {}) or {}
        obj["data"] = data
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def _namespace(obj: dict) -> None:
    name = obj["metadata"].get("name")
    if name:
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    _spec(obj).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _pv(obj: dict) -> None:
    spec = _spec(obj)
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _pvc(obj: dict) -> None:
    _spec(obj).setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _network_policy(obj: dict) -> None:
    spec = _spec(obj)
    if "policyTypes" not in spec:
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
        for p in (rule or {}).get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")


def _node(obj: dict) -> None:
    # NodeSpec is a Go struct, so kube-apiserver always serves `spec: {}` even when a kubelet
    # registers without one (podCIDR arrives later from the node IPAM controller).
    _spec(obj)


def _ingress_class(obj: dict) -> None:
    # networking/v1 SetDefaults_IngressClass: parameters without a scope are cluster-scoped.
    params = _spec(obj).get("parameters")
    if isinstance(params, dict):
        params.setdefault("scope", "Cluster")


_DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "pods": _pod,
    "deployments": _deployment,
    "replicasets": _template_owner,
    "services": _service,
    "endpoints": _endpoints,
    "secrets": _secret,
    "namespaces": _namespace,
    "persistentvolumes": _pv,
    "persistentvolumeclaims": _pvc,
    "networkpolicies": _network_policy,
    "nodes": _node,
    "ingressclasses": _ingress_class,
}
