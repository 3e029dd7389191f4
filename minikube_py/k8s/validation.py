"""Pod spec validation, shared by the API server and the kubelet (k8s.io/kubernetes/pkg/apis/core/validation).

The API server checks a Pod (or a workload's pod template) before storing it; the kubelet checks a
static Pod from its manifest directory, where no API server has looked at it. Both need the same
rules and the same field paths, so the rules live here, below both layers. What differs is how an
error is reported: each caller passes an `Errors` sink — the API server's FieldErrors becomes a 422
with `causes`, the kubelet's becomes a PodSpecError — and a message reads as Kubernetes writes it:
`spec.containers[0].image: Required value`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

from .quantity import QuantityError
from .quantity import parse as parse_quantity

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]
HOSTPATH_TYPES = ["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                  "BlockDevice"]
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
# The volume sources the kubelet can mount; the API server also stores pods with others.
KUBELET_VOLUME_SOURCES = ("emptyDir", "hostPath", "configMap", "secret", "projected", "downwardAPI",
                          "persistentVolumeClaim")
API_VOLUME_SOURCES = (*KUBELET_VOLUME_SOURCES, "nfs", "csi", "ephemeral", "image")


class Errors(Protocol):
    """Where field errors go (field.ErrorList's constructors)."""

    def required(self, field: str, detail: str = "") -> None: ...
    def invalid(self, field: str, value: Any, detail: str) -> None: ...
    def not_supported(self, field: str, value: Any, allowed: list[str]) -> None: ...
    def duplicate(self, field: str, value: Any) -> None: ...
    def forbidden(self, field: str, detail: str) -> None: ...
    def not_found(self, field: str, value: Any) -> None: ...


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def dns_label(errs: Errors, field: str, value: Any) -> None:
    if not isinstance(value, str) or not DNS1123_LABEL.match(value) or len(value) > 63:
        errs.invalid(field, value, LABEL_MSG if isinstance(value, str) and len(value) <= 63
                     else "must be no more than 63 characters")


def dns_subdomain(errs: Errors, field: str, value: Any) -> None:
    if not isinstance(value, str) or not DNS1123_SUBDOMAIN.match(value) or len(value) > 253:
        errs.invalid(field, value, SUBDOMAIN_MSG)


def _str_list(errs: Errors, field: str, v: Any) -> None:
    if v is not None and (not isinstance(v, list) or not all(isinstance(s, str) for s in v)):
        errs.invalid(field, v, "must be a list of strings")


def port_number(errs: Errors, field: str, value: Any, required: bool = True) -> None:
    if value is None:
        if required:
            errs.required(field)
    elif not _is_int(value) or not 1 <= value <= 65535:
        errs.invalid(field, value, "must be between 1 and 65535, inclusive")


def quantities(errs: Errors, field: str, rl: Any) -> dict[str, Any]:
    """Check a map of resource name -> quantity; the parsed values of the good ones."""
    if rl is None:
        return {}
    if not isinstance(rl, dict):
        errs.invalid(field, rl, "must be a map of resource name to quantity")
        return {}
    out = {}
    for name, q in rl.items():
        try:
            v = parse_quantity(q)
        except QuantityError as exc:
            errs.invalid(f"{field}[{name}]", q, exc.reason)
            continue
        if v < 0:
            errs.invalid(f"{field}[{name}]", q, "must be greater than or equal to 0")
        out[name] = v
    return out


def resource_requirements(errs: Errors, field: str, res: Any) -> None:
    if res is None:
        return
    if not isinstance(res, dict):
        errs.invalid(field, res, "must be an object")
        return
    limits = quantities(errs, f"{field}.limits", res.get("limits"))
    requests = quantities(errs, f"{field}.requests", res.get("requests"))
    for name, req in requests.items():
        if name in limits and req > limits[name]:
            errs.invalid(f"{field}.requests", res["requests"][name],
                         f"must be less than or equal to {name} limit of {res['limits'][name]}")


def _port_ref(errs: Errors, field: str, port: Any, named: dict[str, int]) -> None:
    if port is None:
        errs.required(field)
    elif _is_int(port):
        port_number(errs, field, port)
    elif isinstance(port, str):
        if not port.isdigit() and port not in named:
            errs.invalid(field, port, "must contain at least one port named like this in the container")
    else:
        errs.invalid(field, port, "must be a port number or name")


def _probe(errs: Errors, field: str, probe: Any, kind: str, ports: dict[str, int]) -> None:
    if probe is None:
        return
    if not isinstance(probe, dict):
        errs.invalid(field, probe, "must be an object")
        return
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    if not handlers:
        errs.required(field, "must specify a handler type")
    elif len(handlers) > 1:
        errs.forbidden(f"{field}.{handlers[1]}", "may not specify more than 1 handler type")
    for name in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                 "failureThreshold", "terminationGracePeriodSeconds"):
        v = probe.get(name)
        if v is not None and (not _is_int(v) or v < 0):
            errs.invalid(f"{field}.{name}", v, "must be greater than or equal to 0")
    for name in ("periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold"):
        v = probe.get(name)
        if _is_int(v) and v < 1:
            errs.invalid(f"{field}.{name}", v, "must be greater than or equal to 1")
    if kind in ("livenessProbe", "startupProbe") and probe.get("successThreshold", 1) != 1:
        errs.invalid(f"{field}.successThreshold", probe.get("successThreshold"), "must be 1")
    if "exec" in handlers:
        cmd = (probe["exec"] or {}).get("command")
        if not cmd:
            errs.required(f"{field}.exec.command")
        _str_list(errs, f"{field}.exec.command", cmd)
    for h in ("httpGet", "tcpSocket"):
        if h in handlers:
            _port_ref(errs, f"{field}.{h}.port", (probe[h] or {}).get("port"), ports)
    if "httpGet" in handlers and probe["httpGet"].get("scheme", "HTTP") not in ("HTTP", "HTTPS"):
        errs.not_supported(f"{field}.httpGet.scheme", probe["httpGet"]["scheme"], ["HTTP", "HTTPS"])


def _ports(errs: Errors, field: str, ports: Any) -> dict[str, int]:
    """Check a container's ports; its named ports (what a probe may refer to)."""
    named: dict[str, int] = {}
    for i, p in enumerate(ports or []):
        pf = f"{field}[{i}]"
        if not isinstance(p, dict):
            errs.invalid(pf, p, "must be an object")
            continue
        cp = p.get("containerPort")
        port_number(errs, f"{pf}.containerPort", cp)
        port_number(errs, f"{pf}.hostPort", p.get("hostPort"), required=False)
        if p.get("protocol", "TCP") not in PROTOCOLS:
            errs.not_supported(f"{pf}.protocol", p.get("protocol"), PROTOCOLS)
        if "name" in p:
            name = p["name"]
            if not isinstance(name, str) or len(name) > 15 or not IANA_SVC_NAME.match(name):
                errs.invalid(f"{pf}.name", name,
                             "must be no more than 15 characters and a lowercase IANA_SVC_NAME")
            elif name in named:
                errs.duplicate(f"{pf}.name", name)
            elif _is_int(cp):
                named[name] = cp
    return named


def _env(errs: Errors, field: str, env: Any) -> None:
    for i, e in enumerate(env or []):
        ef = f"{field}[{i}]"
        if not isinstance(e, dict):
            errs.invalid(ef, e, "must be an object")
            continue
        if not isinstance(e.get("name"), str) or not e.get("name"):
            errs.required(f"{ef}.name")
        elif not ENV_NAME.match(e["name"]):
            errs.invalid(f"{ef}.name", e["name"], "a valid environment variable name must consist of "
                         "alphabetic characters, digits, '_', '-', or '.', and must not start with a digit")
        if e.get("value") is not None and not isinstance(e["value"], str):
            errs.invalid(f"{ef}.value", e["value"], "must be a string")
        vf = e.get("valueFrom")
        if vf is None:
            continue
        if e.get("value"):
            errs.invalid(f"{ef}.valueFrom", vf, "may not be specified when `value` is not empty")
        kinds = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
                 if isinstance(vf, dict) and vf.get(k) is not None]
        if len(kinds) != 1:
            errs.invalid(f"{ef}.valueFrom", vf, "must specify exactly one of: `fieldRef`, "
                         "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")
        for k in ("configMapKeyRef", "secretKeyRef"):
            if k in kinds:
                for part in ("name", "key"):
                    if not vf[k].get(part):
                        errs.required(f"{ef}.valueFrom.{k}.{part}")
        if "fieldRef" in kinds and not vf["fieldRef"].get("fieldPath"):
            errs.required(f"{ef}.valueFrom.fieldRef.fieldPath")


def _volume_mounts(errs: Errors, field: str, mounts: Any, volumes: set[str]) -> None:
    paths: set[str] = set()
    for i, vm in enumerate(mounts or []):
        vf = f"{field}[{i}]"
        if not isinstance(vm, dict):
            errs.invalid(vf, vm, "must be an object")
            continue
        if not vm.get("name"):
            errs.required(f"{vf}.name")
        elif vm["name"] not in volumes:
            errs.not_found(f"{vf}.name", vm["name"])
        mp = vm.get("mountPath")
        if not isinstance(mp, str) or not mp:
            errs.required(f"{vf}.mountPath")
        elif mp in paths:
            errs.invalid(f"{vf}.mountPath", mp, "must be unique")
        else:
            paths.add(mp)
        sub = vm.get("subPath")
        if sub and (sub.startswith("/") or ".." in sub.split("/")):
            errs.invalid(f"{vf}.subPath", sub, "must be a relative path without '..'")


def _security_context(errs: Errors, field: str, sc: Any) -> None:
    if sc is None:
        return
    if not isinstance(sc, dict):
        errs.invalid(field, sc, "must be an object")
        return
    for name in ("runAsUser", "runAsGroup"):
        if name in sc and (not _is_int(sc[name]) or not 0 <= sc[name] <= 2147483647):
            errs.invalid(f"{field}.{name}", sc[name], "must be between 0 and 2147483647, inclusive")
    if sc.get("privileged") and sc.get("allowPrivilegeEscalation") is False:
        errs.invalid(field, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true")


def _container(errs: Errors, field: str, c: Any, volumes: set[str], init: bool) -> str | None:
    """Check one container; its name if it has a usable one."""
    if not isinstance(c, dict):
        errs.invalid(field, c, "must be an object")
        return None
    name = c.get("name")
    if not name:
        errs.required(f"{field}.name")
    else:
        dns_label(errs, f"{field}.name", name)
    image = c.get("image")
    if not isinstance(image, str) or not image.strip():
        errs.required(f"{field}.image")
    _str_list(errs, f"{field}.command", c.get("command"))
    _str_list(errs, f"{field}.args", c.get("args"))
    if c.get("imagePullPolicy") not in (None, *PULL_POLICIES):
        errs.not_supported(f"{field}.imagePullPolicy", c["imagePullPolicy"], PULL_POLICIES)
    named_ports = _ports(errs, f"{field}.ports", c.get("ports"))
    _env(errs, f"{field}.env", c.get("env"))
    for i, src in enumerate(c.get("envFrom") or []):
        if not isinstance(src, dict) or len([k for k in ("configMapRef", "secretRef") if src.get(k)]) != 1:
            errs.invalid(f"{field}.envFrom[{i}]", src, "must specify one of: `configMapRef` or `secretRef`")
    resource_requirements(errs, f"{field}.resources", c.get("resources"))
    _volume_mounts(errs, f"{field}.volumeMounts", c.get("volumeMounts"), volumes)
    # A restartPolicy on a container is only for sidecars: init containers with Always.
    if c.get("restartPolicy") is not None and (not init or c["restartPolicy"] != "Always"):
        errs.not_supported(f"{field}.restartPolicy", c["restartPolicy"], ["Always"] if init else [])
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if init and c.get(kind) is not None and c.get("restartPolicy") != "Always":
            errs.forbidden(f"{field}.{kind}", "may not be set for init containers")
        _probe(errs, f"{field}.{kind}", c.get(kind), kind, named_ports)
    _security_context(errs, f"{field}.securityContext", c.get("securityContext"))
    return name if isinstance(name, str) and name else None


def _volume(errs: Errors, field: str, vol: Any, sources: Iterable[str]) -> str | None:
    """Check one volume; its name if it has one."""
    if not isinstance(vol, dict):
        errs.invalid(field, vol, "must be an object")
        return None
    name = vol.get("name")
    if not name:
        errs.required(f"{field}.name")
    else:
        dns_label(errs, f"{field}.name", name)
    given = [s for s in sources if vol.get(s) is not None]
    if not given:
        errs.required(field, "must specify a volume type")
    elif len(given) > 1:
        errs.forbidden(f"{field}.{given[1]}", "may not specify more than 1 volume type")
    hp = vol.get("hostPath")
    if isinstance(hp, dict):
        if not isinstance(hp.get("path"), str) or not hp.get("path"):
            errs.required(f"{field}.hostPath.path")
        if hp.get("type", "") not in HOSTPATH_TYPES:
            errs.not_supported(f"{field}.hostPath.type", hp["type"], HOSTPATH_TYPES[1:])
    ed = vol.get("emptyDir")
    if isinstance(ed, dict):
        if ed.get("medium", "") not in ("", "Memory"):
            errs.not_supported(f"{field}.emptyDir.medium", ed["medium"], ["", "Memory"])
        if ed.get("sizeLimit") is not None:
            quantities(errs, f"{field}.emptyDir", {"sizeLimit": ed["sizeLimit"]})
    for src, ref in (("configMap", "name"), ("secret", "secretName")):
        s = vol.get(src)
        if not isinstance(s, dict):
            continue
        if not s.get(ref):
            errs.required(f"{field}.{src}.{ref}")
        mode = s.get("defaultMode")
        if mode is not None and (not _is_int(mode) or not 0 <= mode <= 0o777):
            errs.invalid(f"{field}.{src}.defaultMode", mode, "must be a number between 0 and 0777 (octal), "
                         "both inclusive")
        for i, item in enumerate(s.get("items") or []):
            item = item if isinstance(item, dict) else {}
            if not item.get("key"):
                errs.required(f"{field}.{src}.items[{i}].key")
            p = item.get("path", "")
            if not p or p.startswith("/") or ".." in p.split("/"):
                errs.invalid(f"{field}.{src}.items[{i}].path", p, "must be a relative path without '..'")
    pvc = vol.get("persistentVolumeClaim")
    if isinstance(pvc, dict) and not pvc.get("claimName"):
        errs.required(f"{field}.persistentVolumeClaim.claimName")
    return name if isinstance(name, str) and name else None


def validate_pod_spec(errs: Errors, field: str, spec: Any, *, restart_policies: list[str] | None = None,
                      volume_sources: Iterable[str] = API_VOLUME_SOURCES) -> None:
    """Every problem of a PodSpec at `field` ("spec", or "spec.template.spec" of a workload)."""
    if not isinstance(spec, dict):
        errs.required(field)
        return
    allowed = restart_policies or RESTART_POLICIES
    rp = spec.get("restartPolicy")
    if rp is not None and rp not in allowed:
        errs.not_supported(f"{field}.restartPolicy", rp, allowed)
    dp = spec.get("dnsPolicy")
    if dp is not None and dp not in DNS_POLICIES:
        errs.not_supported(f"{field}.dnsPolicy", dp, DNS_POLICIES)
    tg = spec.get("terminationGracePeriodSeconds")
    if tg is not None and (not _is_int(tg) or tg < 0):
        errs.invalid(f"{field}.terminationGracePeriodSeconds", tg, "must be greater than or equal to 0")
    volumes: set[str] = set()
    vols = spec.get("volumes") or []
    if not isinstance(vols, list):
        errs.invalid(f"{field}.volumes", vols, "must be a list")
        vols = []
    sources = tuple(volume_sources)
    for i, vol in enumerate(vols):
        name = _volume(errs, f"{field}.volumes[{i}]", vol, sources)
        if name in volumes:
            errs.duplicate(f"{field}.volumes[{i}].name", name)
        elif name:
            volumes.add(name)
    if not spec.get("containers"):
        errs.required(f"{field}.containers")
    names: set[str] = set()  # one namespace for init and app containers
    for part in ("initContainers", "containers"):
        items = spec.get(part) or []
        if not isinstance(items, list):
            errs.invalid(f"{field}.{part}", items, "must be a list")
            continue
        for i, c in enumerate(items):
            name = _container(errs, f"{field}.{part}[{i}]", c, volumes, part == "initContainers")
            if name in names:
                errs.duplicate(f"{field}.{part}[{i}].name", name)
            elif name:
                names.add(name)
    for i, t in enumerate(spec.get("tolerations") or []):
        t = t if isinstance(t, dict) else {}
        op = t.get("operator", "Equal")
        if op not in ("Equal", "Exists"):
            errs.not_supported(f"{field}.tolerations[{i}].operator", op, ["Equal", "Exists"])
        eff = t.get("effect")
        if eff and eff not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.not_supported(f"{field}.tolerations[{i}].effect", eff,
                               ["NoExecute", "NoSchedule", "PreferNoSchedule"])
