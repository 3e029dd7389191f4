"""Validation as k8s.io/kubernetes/pkg/apis/*/validation does it, for the kinds we serve.

`validate(resource, obj)` raises one 422 Invalid ApiError listing every bad field (as
`causes`), before anything is stored: a bad request changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from minikube_py.k8s import validation as shared
from minikube_py.k8s.selectors import SelectorError, from_label_selector
from minikube_py.k8s.validation import (
    DNS1123_SUBDOMAIN,
    IANA_SVC_NAME,
    PROTOCOLS,
    SUBDOMAIN_MSG,
    dns_label,
    dns_subdomain,
    port_number,
    resource_requirements,
)

from ..errors import FieldErrors
from ..resources import Resource

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

# How each resource's metadata.name is checked (default: DNS-1123 subdomain).
NAME_RULES = {"namespaces": "label", "services": "dns1035"}


def _labels(errs: FieldErrors, field: str, labels: Any) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        errs.invalid(field, labels, "must be a map of string keys to string values")
        return
    for k, v in labels.items():
        _qualified_key(errs, field, k)
        if not isinstance(v, str) or len(v) > 63 or (v and not QUALIFIED_NAME.match(v)):
            errs.invalid(
                f"{field}",
                v,
                "a valid label must be an empty string or consist of alphanumeric "
                "characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            )


def _qualified_key(errs: FieldErrors, field: str, key: Any) -> None:
    if not isinstance(key, str):
        errs.invalid(field, key, "keys must be strings")
        return
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        errs.invalid(field, key, "prefix part " + SUBDOMAIN_MSG)
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        errs.invalid(
            field,
            key,
            "name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character",
        )


def validate_meta(res: Resource, obj: dict, errs: FieldErrors) -> None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        errs.required("metadata")
        return
    name = meta.get("name")
    if not name:
        errs.required("metadata.name", "name or generateName is required")
    else:
        rule = NAME_RULES.get(res.plural, "subdomain")
        if rule == "label":
            dns_label(errs, "metadata.name", name)
        elif rule == "dns1035":
            if not isinstance(name, str) or not DNS1035_LABEL.match(name) or len(name) > 63:
                errs.invalid("metadata.name", name, DNS1035_MSG)
        else:
            dns_subdomain(errs, "metadata.name", name)
    if res.namespaced and not meta.get("namespace"):
        errs.required("metadata.namespace")
    _labels(errs, "metadata.labels", meta.get("labels"))
    ann = meta.get("annotations")
    if ann is not None:
        if not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values()):
            errs.invalid("metadata.annotations", ann, "must be a map of string keys to string values")
        else:
            for k in ann:
                _qualified_key(errs, "metadata.annotations", k)
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        for f in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref, dict) or not ref.get(f):
                errs.required(f"metadata.ownerReferences[{i}].{f}")


# ---------------------------------------------------------------- pods
def validate_pod_spec(errs: FieldErrors, field: str, spec: Any, restart_policies: list[str] | None = None
                      ) -> None:
    """The shared pod spec rules (minikube_py/k8s/validation.py), and the nodeSelector's labels."""
    shared.validate_pod_spec(errs, field, spec, restart_policies=restart_policies)
    if isinstance(spec, dict) and spec.get("nodeSelector") is not None:
        _labels(errs, f"{field}.nodeSelector", spec["nodeSelector"])


def _pod(obj: dict, errs: FieldErrors) -> None:
    validate_pod_spec(errs, "spec", obj.get("spec"))


# ---------------------------------------------------------------- workloads
def _selector_and_template(obj: dict, errs: FieldErrors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.required("spec")
        return
    r = spec.get("replicas")
    if r is not None and (not isinstance(r, int) or isinstance(r, bool) or r < 0):
        errs.invalid("spec.replicas", r, "must be greater than or equal to 0")
    sel = spec.get("selector")
    if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        errs.required("spec.selector")
        selector = None
    else:
        try:
            selector = from_label_selector(sel, "spec.selector")
        except SelectorError as e:
            errs.invalid("spec.selector", sel, str(e))
            selector = None
    tpl = spec.get("template")
    if not isinstance(tpl, dict):
        errs.required("spec.template")
        return
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    _labels(errs, "spec.template.metadata.labels", labels)
    if selector is not None and not selector.matches(labels):
        errs.invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
    validate_pod_spec(errs, "spec.template.spec", tpl.get("spec"), ["Always"])


def _int_or_percent(errs: FieldErrors, field: str, v: Any) -> None:
    if v is None:
        return
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 0:
            errs.invalid(field, v, "must be greater than or equal to 0")
    elif not (isinstance(v, str) and re.match(r"^[0-9]+%$", v)):
        errs.invalid(field, v, "must be an integer or percentage (e.g '5%')")


def _deployment(obj: dict, errs: FieldErrors) -> None:
    _selector_and_template(obj, errs)
    spec = obj.get("spec") or {}
    st = spec.get("strategy") or {}
    t = st.get("type", "RollingUpdate")
    if t not in ("RollingUpdate", "Recreate"):
        errs.not_supported("spec.strategy.type", t, ["Recreate", "RollingUpdate"])
    if t == "Recreate" and st.get("rollingUpdate"):
        errs.forbidden(
            "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"
        )
    ru = st.get("rollingUpdate") or {}
    _int_or_percent(errs, "spec.strategy.rollingUpdate.maxSurge", ru.get("maxSurge"))
    _int_or_percent(errs, "spec.strategy.rollingUpdate.maxUnavailable", ru.get("maxUnavailable"))
    if ru.get("maxSurge") in (0, "0%") and ru.get("maxUnavailable") in (0, "0%"):
        errs.invalid(
            "spec.strategy.rollingUpdate.maxUnavailable",
            ru.get("maxUnavailable"),
            "may not be 0 when `maxSurge` is 0",
        )
    for f in ("revisionHistoryLimit", "progressDeadlineSeconds", "minReadySeconds"):
        v = spec.get(f)
        if v is not None and (not isinstance(v, int) or v < 0):
            errs.invalid(f"spec.{f}", v, "must be greater than or equal to 0")


# ---------------------------------------------------------------- services
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _service(obj: dict, errs: FieldErrors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.required("spec")
        return
    t = spec.get("type", "ClusterIP")
    if t not in SERVICE_TYPES:
        errs.not_supported("spec.type", t, SERVICE_TYPES)
    ports = spec.get("ports") or []
    if not ports and t != "ExternalName" and spec.get("clusterIP") != "None":
        errs.required("spec.ports")
    if t == "ExternalName" and not spec.get("externalName"):
        errs.required("spec.externalName")
    names: set[str] = set()
    seen: set[tuple] = set()
    for i, p in enumerate(ports):
        pf = f"spec.ports[{i}]"
        if not isinstance(p, dict):
            errs.invalid(pf, p, "must be an object")
            continue
        if len(ports) > 1 and not p.get("name"):
            errs.required(f"{pf}.name")
        if p.get("name"):
            dns_label(errs, f"{pf}.name", p["name"])
            if p["name"] in names:
                errs.duplicate(f"{pf}.name", p["name"])
            names.add(p["name"])
        port_number(errs, f"{pf}.port", p.get("port"))
        proto = p.get("protocol", "TCP")
        if proto not in PROTOCOLS:
            errs.not_supported(f"{pf}.protocol", proto, PROTOCOLS)
        if (p.get("port"), proto) in seen:
            errs.duplicate(pf, {"port": p.get("port"), "protocol": proto})
        seen.add((p.get("port"), proto))
        tp = p.get("targetPort")
        if isinstance(tp, int):
            port_number(errs, f"{pf}.targetPort", tp)
        elif tp is not None and not (isinstance(tp, str) and IANA_SVC_NAME.match(tp)):
            errs.invalid(
                f"{pf}.targetPort", tp, "must contain at least one letter (a-z) and be a valid port name"
            )
        np = p.get("nodePort")
        if np is not None:
            if t not in ("NodePort", "LoadBalancer"):
                errs.forbidden(f"{pf}.nodePort", "may not be used when `type` is 'ClusterIP'")
            elif not isinstance(np, int) or not 30000 <= np <= 32767:
                errs.invalid(
                    f"{pf}.nodePort",
                    np,
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                )
    _labels(errs, "spec.selector", spec.get("selector"))
    ip = spec.get("clusterIP")
    if ip not in (None, "", "None"):
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            errs.invalid(
                "spec.clusterIP", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            )
    aff = spec.get("sessionAffinity", "None")
    if aff not in ("None", "ClientIP"):
        errs.not_supported("spec.sessionAffinity", aff, ["ClientIP", "None"])


def _endpoints(obj: dict, errs: FieldErrors) -> None:
    for i, s in enumerate(obj.get("subsets") or []):
        for key in ("addresses", "notReadyAddresses"):
            for j, a in enumerate((s or {}).get(key) or []):
                try:
                    ipaddress.ip_address((a or {}).get("ip", ""))
                except ValueError:
                    errs.invalid(
                        f"subsets[{i}].{key}[{j}].ip", (a or {}).get("ip"), "must be a valid IP address"
                    )
        for j, p in enumerate((s or {}).get("ports") or []):
            port_number(errs, f"subsets[{i}].ports[{j}].port", (p or {}).get("port"))


# ---------------------------------------------------------------- config
def _data_keys(errs: FieldErrors, field: str, data: Any) -> None:
    if data is None:
        return
    if not isinstance(data, dict):
        errs.invalid(field, data, "must be a map")
        return
    for k, v in data.items():
        if not CONFIG_KEY.match(k) or len(k) > 253:
            errs.invalid(
                f"{field}[{k}]",
                k,
                "a valid config key must consist of alphanumeric characters, "
                "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                "validation is '[-._a-zA-Z0-9]+')",
            )
        if not isinstance(v, str):
            errs.invalid(f"{field}[{k}]", v, "must be a string")


def _configmap(obj: dict, errs: FieldErrors) -> None:
    _data_keys(errs, "data", obj.get("data"))
    _data_keys(errs, "binaryData", obj.get("binaryData"))
    both = set(obj.get("data") or {}) & set(obj.get("binaryData") or {})
    for k in both:
        errs.duplicate(f"data[{k}]", k)


def _secret(obj: dict, errs: FieldErrors) -> None:
    _data_keys(errs, "data", obj.get("data"))
    for k, v in (obj.get("data") or {}).items():
        if isinstance(v, str):
            try:
                base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                errs.invalid(f"data[{k}]", "<secret contents redacted>", "must be valid base64")
    if obj.get("type") == "kubernetes.io/tls":
        for k in ("tls.crt", "tls.key"):
            if k not in (obj.get("data") or {}):
                errs.required(f"data[{k}]")


def _namespace(obj: dict, errs: FieldErrors) -> None:
    pass


def _node(obj: dict, errs: FieldErrors) -> None:
    spec = obj.get("spec") or {}
    for i, t in enumerate(spec.get("taints") or []):
        if not (t or {}).get("key"):
            errs.required(f"spec.taints[{i}].key")
        eff = (t or {}).get("effect")
        if eff not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.not_supported(
                f"spec.taints[{i}].effect", eff, ["NoExecute", "NoSchedule", "PreferNoSchedule"]
            )


def _event(obj: dict, errs: FieldErrors) -> None:
    if "involvedObject" in obj and not isinstance(obj["involvedObject"], dict):
        errs.invalid("involvedObject", obj["involvedObject"], "must be an object")
    t = obj.get("type")
    if t and t not in ("Normal", "Warning"):
        errs.not_supported("type", t, ["Normal", "Warning"])


def _pvc(obj: dict, errs: FieldErrors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.required("spec")
        return
    if not spec.get("accessModes"):
        errs.required("spec.accessModes", "at least 1 access mode is required")
    if not ((spec.get("resources") or {}).get("requests") or {}).get("storage"):
        errs.required("spec.resources[storage]")
    resource_requirements(errs, "spec.resources", spec.get("resources"))


def _pv(obj: dict, errs: FieldErrors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.required("spec")
        return
    if not (spec.get("capacity") or {}).get("storage"):
        errs.required("spec.capacity")
    if not spec.get("accessModes"):
        errs.required("spec.accessModes")


def _network_policy(obj: dict, errs: FieldErrors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.required("spec")
        return
    try:
        from_label_selector(spec.get("podSelector"), "spec.podSelector")
    except SelectorError as e:
        errs.invalid("spec.podSelector", spec.get("podSelector"), str(e))
    for i, t in enumerate(spec.get("policyTypes") or []):
        if t not in ("Ingress", "Egress"):
            errs.not_supported(f"spec.policyTypes[{i}]", t, ["Egress", "Ingress"])


_VALIDATORS: dict[str, Callable[[dict, FieldErrors], None]] = {
    "pods": _pod,
    "deployments": _deployment,
    "replicasets": _selector_and_template,
    "services": _service,
    "endpoints": _endpoints,
    "configmaps": _configmap,
    "secrets": _secret,
    "namespaces": _namespace,
    "nodes": _node,
    "events": _event,
    "persistentvolumeclaims": _pvc,
    "persistentvolumes": _pv,
    "networkpolicies": _network_policy,
}


def validate(res: Resource, obj: dict) -> None:
    errs = FieldErrors()
    validate_meta(res, obj, errs)
    fn = _VALIDATORS.get(res.plural)
    if fn:
        fn(obj, errs)
    errs.raise_if(res.kind, (obj.get("metadata") or {}).get("name") or "", res.group)


# ---------------------------------------------------------------- updates
# Pod spec fields an update may change (everything else is immutable once created).
POD_MUTABLE = {"activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates"}


def validate_update(res: Resource, new: dict, old: dict) -> None:
    errs = FieldErrors()
    validate_meta(res, new, errs)
    fn = _VALIDATORS.get(res.plural)
    if fn:
        fn(new, errs)
    ns, os_ = new.get("spec") or {}, old.get("spec") or {}
    if (old.get("metadata") or {}).get("deletionTimestamp"):
        added = [
            f
            for f in new["metadata"].get("finalizers") or []
            if f not in old["metadata"].get("finalizers") or []
        ]
        if added:
            errs.forbidden(
                "metadata.finalizers",
                "no new finalizers can be added if the object is being deleted, "
                f"found new finalizers {added}",
            )
    if res.plural == "pods":
        changed = (
            {k for k in set(ns) | set(os_) if ns.get(k) != os_.get(k)}
            - POD_MUTABLE
            - {"containers", "initContainers"}
        )
        if "nodeName" in changed and not os_.get("nodeName"):
            changed.discard("nodeName")  # binding sets it once
        for key in ("containers", "initContainers"):
            a, b = ns.get(key) or [], os_.get(key) or []
            if len(a) != len(b) or any(
                {**x, "image": None} != {**y, "image": None} for x, y in zip(a, b, strict=False)
            ):
                changed.add(key)
        if changed:
            errs.forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`, "
                "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` "
                "(only additions to existing tolerations), `spec.terminationGracePeriodSeconds` "
                f"(changed: {', '.join(sorted(changed))})",
            )
    elif res.plural in ("deployments", "replicasets"):
        if ns.get("selector") != os_.get("selector"):
            errs.invalid("spec.selector", ns.get("selector"), "field is immutable")
    elif res.plural == "services":
        if os_.get("clusterIP") and ns.get("clusterIP") != os_.get("clusterIP"):
            errs.invalid("spec.clusterIP", ns.get("clusterIP"), "field is immutable")
    elif res.plural == "persistentvolumeclaims":
        changed = {k for k in set(ns) | set(os_) if ns.get(k) != os_.get(k)} - {"resources", "volumeName"}
        if changed:
            errs.forbidden(
                "spec", "spec is immutable after creation except resources.requests and volumeName"
            )
    elif res.plural in ("secrets", "configmaps") and old.get("immutable"):
        data_changed = new.get("data") != old.get("data") or new.get("binaryData") != old.get("binaryData")
        if data_changed:
            errs.forbidden("data", "field is immutable when `immutable` is set")
    errs.raise_if(res.kind, (new.get("metadata") or {}).get("name") or "", res.group)
