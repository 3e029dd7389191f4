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


# ---------------------------------------------------------------- ingress (networking/validation)
PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
# Sequences kube refuses in Exact/Prefix paths: they would be normalised differently by proxies.
BAD_PATH_PARTS = ("//", "/./", "/../", "%2f", "%2F")
WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which "
    "must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric "
    "character (e.g. '*.example.com', regex used for validation is "
    "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def _ingress_host(errs: FieldErrors, field: str, host: Any) -> None:
    """A DNS subdomain, or '*.' + one (a wildcard covers exactly one more label); never an IP."""
    if not isinstance(host, str):
        errs.invalid(field, host, "must be a string")
        return
    try:
        ipaddress.ip_address(host)
        errs.invalid(field, host, "must be a DNS name, not an IP address")
        return
    except ValueError:
        pass
    if "*" in host:
        rest = host[2:]
        if not host.startswith("*.") or len(host) > 253 or not DNS1123_SUBDOMAIN.match(rest):
            errs.invalid(field, host, WILDCARD_MSG)
    else:
        dns_subdomain(errs, field, host)


def _ingress_backend(errs: FieldErrors, field: str, backend: Any) -> None:
    if not isinstance(backend, dict):
        errs.required(field)
        return
    svc, resource = backend.get("service"), backend.get("resource")
    if svc is not None and resource is not None:
        errs.invalid(field, "", "cannot set both resource and service backends")
        return
    if resource is not None:
        if not isinstance(resource, dict) or not resource.get("kind") or not resource.get("name"):
            errs.invalid(f"{field}.resource", resource, "kind and name are required")
        return
    if not isinstance(svc, dict):
        errs.invalid(field, "", "resource or service backend is required")
        return
    name = svc.get("name")
    if not name:
        errs.required(f"{field}.service.name")
    elif not isinstance(name, str) or not DNS1035_LABEL.match(name) or len(name) > 63:
        errs.invalid(f"{field}.service.name", name, DNS1035_MSG)
    port = svc.get("port") if isinstance(svc.get("port"), dict) else {}
    pname, pnum = port.get("name"), port.get("number")
    if pname and pnum:
        errs.invalid(f"{field}.service.port", "", "cannot set both port name & port number")
    elif pname:
        if not isinstance(pname, str) or len(pname) > 15 or not IANA_SVC_NAME.match(pname):
            errs.invalid(f"{field}.service.port.name", pname,
                         "must be no more than 15 characters and a lowercase IANA_SVC_NAME")
    elif pnum:
        port_number(errs, f"{field}.service.port.number", pnum)
    else:
        errs.required(f"{field}.service.port", "port name or number is required")


def _ingress_path(errs: FieldErrors, field: str, path: Any) -> None:
    if not isinstance(path, dict):
        errs.invalid(field, path, "must be an object")
        return
    ptype, value = path.get("pathType"), path.get("path", "")
    if ptype is None:
        # v1 has no default: the user must say how the path matches (v1beta1 defaulted it).
        errs.required(f"{field}.pathType", "pathType must be specified")
    elif ptype in ("Exact", "Prefix"):
        if not isinstance(value, str) or not value.startswith("/"):
            errs.invalid(f"{field}.path", value, "must be an absolute path")
        else:
            for seq in BAD_PATH_PARTS:
                if seq in value:
                    errs.invalid(f"{field}.path", value, f"must not contain '{seq}'")
            for suffix in ("/..", "/."):
                if value.endswith(suffix):
                    errs.invalid(f"{field}.path", value, f"cannot end with '{suffix}'")
    elif ptype == "ImplementationSpecific":
        if value and not (isinstance(value, str) and value.startswith("/")):
            errs.invalid(f"{field}.path", value, "must be an absolute path")
    else:
        errs.not_supported(f"{field}.pathType", ptype, PATH_TYPES)
    _ingress_backend(errs, f"{field}.backend", path.get("backend"))


def _ingress(obj: dict, errs: FieldErrors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.required("spec")
        return
    rules = spec.get("rules") or []
    if not rules and spec.get("defaultBackend") is None:
        errs.invalid("spec", rules, "either `defaultBackend` or `rules` must be specified")
    if spec.get("defaultBackend") is not None:
        _ingress_backend(errs, "spec.defaultBackend", spec["defaultBackend"])
    cls = spec.get("ingressClassName")
    if cls is not None:
        dns_subdomain(errs, "spec.ingressClassName", cls)
        if ((obj.get("metadata") or {}).get("annotations") or {}).get("kubernetes.io/ingress.class"):
            errs.invalid("metadata.annotations.kubernetes.io/ingress.class", cls,
                         "can not be set when the class field is also set")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        field = f"spec.rules[{i}]"
        if not isinstance(rule, dict):
            errs.invalid(field, rule, "must be an object")
            continue
        if rule.get("host"):
            _ingress_host(errs, f"{field}.host", rule["host"])
        http = rule.get("http")
        if http is not None:
            paths = http.get("paths") if isinstance(http, dict) else None
            if not paths:
                errs.required(f"{field}.http.paths")
            for j, p in enumerate(paths if isinstance(paths, list) else []):
                _ingress_path(errs, f"{field}.http.paths[{j}]", p)
    for i, tls in enumerate(spec.get("tls") or []):
        if not isinstance(tls, dict):
            errs.invalid(f"spec.tls[{i}]", tls, "must be an object")
            continue
        for j, host in enumerate(tls.get("hosts") or []):
            _ingress_host(errs, f"spec.tls[{i}].hosts[{j}]", host)
        if tls.get("secretName"):
            dns_subdomain(errs, f"spec.tls[{i}].secretName", tls["secretName"])


# "domain/path" (IsDomainPrefixedPath): the domain says who owns the controller name.
CONTROLLER_NAME = re.compile(DNS1123_SUBDOMAIN.pattern.rstrip("$") + r"/[-A-Za-z0-9_./~%!$&'()*+,;=:@]+$")


def _ingress_class(obj: dict, errs: FieldErrors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.required("spec")
        return
    ctl = spec.get("controller")
    if not ctl:
        errs.required("spec.controller")
    elif not isinstance(ctl, str) or len(ctl) > 250 or not CONTROLLER_NAME.match(ctl):
        errs.invalid("spec.controller", ctl, 'must be a domain-prefixed path (such as "acme.io/foo")')
    params = spec.get("parameters")
    if params is not None:
        if not isinstance(params, dict):
            errs.invalid("spec.parameters", params, "must be an object")
            return
        for key in ("kind", "name"):
            if not params.get(key):
                errs.required(f"spec.parameters.{key}")
        scope = params.get("scope", "Cluster")
        if scope not in ("Cluster", "Namespace"):
            errs.not_supported("spec.parameters.scope", scope, ["Cluster", "Namespace"])
        elif scope == "Namespace" and not params.get("namespace"):
            errs.required("spec.parameters.namespace", "`parameters.scope` is set to 'Namespace'")
        elif scope == "Cluster" and params.get("namespace"):
            errs.forbidden("spec.parameters.namespace", "`parameters.scope` is set to 'Cluster'")


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
    "ingresses": _ingress,
    "ingressclasses": _ingress_class,
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
