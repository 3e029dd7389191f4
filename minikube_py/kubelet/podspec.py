"""v1 Pod objects: load (YAML/JSON), apply the API server's defaults, validate.

Pods stay plain dicts shaped exactly like Kubernetes JSON (that is what the API
server stores and what `kubectl get -o json` prints); this module only makes
them complete and checks what the kubelet relies on. Errors read like the API
server's: `spec.containers[0].image: Required value`, all of them at once.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from typing import Any

import yaml

from minikube_py.kubelet import quantity

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("TCP", "UDP", "SCTP")
HOSTPATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                  "CharDevice", "BlockDevice")
VOLUME_SOURCES = ("emptyDir", "hostPath", "configMap", "secret", "projected", "downwardAPI",
                  "persistentVolumeClaim")
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class PodSpecError(ValueError):
    """A Pod the kubelet cannot accept. `errors` lists (field path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in errors))


# ------------------------------------------------------------------ loading
def load_pods(text: str, source: str = "<input>") -> list[dict]:
    """Every Pod in a YAML or JSON document stream (a `List`/`PodList` is flattened)."""
    try:
        docs = [json.loads(text)] if text.lstrip().startswith("{") else list(yaml.safe_load_all(text))
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise PodSpecError([(source, f"not valid YAML/JSON: {exc}")]) from exc
    pods: list[dict] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise PodSpecError([(source, "a document must be an object")])
        if doc.get("kind") in ("List", "PodList"):
            pods.extend(i for i in doc.get("items") or [])
        else:
            pods.append(doc)
    return pods


def parse_pod(obj: Any) -> dict:
    """Defaulted, validated copy of a Pod object."""
    if not isinstance(obj, dict):
        raise PodSpecError([("<root>", "a Pod must be an object")])
    pod = default_pod(obj)
    validate_pod(pod)
    return pod


def all_containers(pod: dict) -> list[tuple[str, int, dict]]:
    """(field, index, container) for init containers then app containers."""
    spec = pod.get("spec") or {}
    return ([("initContainers", i, c) for i, c in enumerate(spec.get("initContainers") or [])]
            + [("containers", i, c) for i, c in enumerate(spec.get("containers") or [])])


# ------------------------------------------------------------------ defaults
def default_image_pull_policy(image: str) -> str:
    """Always for `:latest` or no tag (and no digest), otherwise IfNotPresent."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def default_probe(probe: dict) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("path", "/")
        probe["httpGet"].setdefault("scheme", "HTTP")


def default_pod(obj: dict) -> dict:
    """What the API server's defaulting adds (SetDefaults_Pod & co.), on a deep copy."""
    pod = copy.deepcopy(obj)
    meta = pod.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta.setdefault("namespace", "default")
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return pod
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for _, _, c in all_containers(pod):
        if not isinstance(c, dict):
            continue
        if isinstance(c.get("image"), str) and c["image"]:
            c.setdefault("imagePullPolicy", default_image_pull_policy(c["image"]))
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        for port in c.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
        res = c.setdefault("resources", {})
        if isinstance(res, dict) and isinstance(res.get("limits"), dict):
            # A limit without a request means "request the same" (that is what makes Guaranteed pods).
            requests = res.setdefault("requests", {})
            for name, q in res["limits"].items():
                requests.setdefault(name, q)
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            if isinstance(c.get(kind), dict):
                default_probe(c[kind])
        for env in c.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("fieldRef") if isinstance(env, dict) else None
            if isinstance(ref, dict):
                ref.setdefault("apiVersion", "v1")
    for vol in spec.get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        for src in ("configMap", "secret", "projected", "downwardAPI"):
            if isinstance(vol.get(src), dict):
                vol[src].setdefault("defaultMode", 0o644)
        if isinstance(vol.get("hostPath"), dict):
            vol["hostPath"].setdefault("type", "")
    return pod


# ------------------------------------------------------------------ validation
class _Errors:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, msg: str) -> None:
        self.items.append((path, msg))

    def required(self, path: str) -> None:
        self.add(path, "Required value")

    def invalid(self, path: str, value: Any, why: str) -> None:
        self.add(path, f"Invalid value: {json.dumps(value, default=str)}: {why}")

    def unsupported(self, path: str, value: Any, allowed: Iterable[str]) -> None:
        supported = ", ".join(f'"{a}"' for a in allowed)
        self.add(path, f"Unsupported value: {json.dumps(value, default=str)}: supported values: {supported}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_name(e: _Errors, path: str, name: Any, *, label: bool) -> None:
    if not isinstance(name, str) or not name:
        e.required(path)
    elif label and (len(name) > 63 or not _DNS1123_LABEL.match(name)):
        e.invalid(path, name, "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                  "characters or '-', and must start and end with an alphanumeric character")
    elif not label and (len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name)):
        e.invalid(path, name, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character")


def _check_str_list(e: _Errors, path: str, v: Any) -> None:
    if v is not None and (not isinstance(v, list) or not all(isinstance(s, str) for s in v)):
        e.invalid(path, v, "must be a list of strings")


def _check_quantities(e: _Errors, path: str, rl: Any) -> dict[str, Any]:
    if rl is None:
        return {}
    if not isinstance(rl, dict):
        e.invalid(path, rl, "must be a map of resource name to quantity")
        return {}
    out = {}
    for name, q in rl.items():
        try:
            v = quantity.parse(q)
        except quantity.QuantityError as exc:
            e.invalid(f"{path}[{name}]", q, str(exc))
            continue
        if v < 0:
            e.invalid(f"{path}[{name}]", q, "must be greater than or equal to 0")
        out[name] = v
    return out


def _check_probe(e: _Errors, path: str, probe: Any, kind: str, ports: dict[str, int]) -> None:
    if probe is None:
        return
    if not isinstance(probe, dict):
        e.invalid(path, probe, "must be an object")
        return
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    if not handlers:
        e.required(f"{path}: must specify a handler type")
    elif len(handlers) > 1:
        e.add(f"{path}.{handlers[1]}", "Forbidden: may not specify more than 1 handler type")
    for field in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                  "failureThreshold", "terminationGracePeriodSeconds"):
        v = probe.get(field)
        if v is not None and (not _is_int(v) or v < 0):
            e.invalid(f"{path}.{field}", v, "must be greater than or equal to 0")
    for field in ("periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold"):
        v = probe.get(field)
        if _is_int(v) and v < 1:
            e.invalid(f"{path}.{field}", v, "must be greater than or equal to 1")
    if kind in ("livenessProbe", "startupProbe") and probe.get("successThreshold", 1) != 1:
        e.invalid(f"{path}.successThreshold", probe.get("successThreshold"), "must be 1")
    if "exec" in handlers:
        cmd = (probe["exec"] or {}).get("command")
        if not cmd:
            e.required(f"{path}.exec.command")
        _check_str_list(e, f"{path}.exec.command", cmd)
    for h in ("httpGet", "tcpSocket"):
        if h in handlers:
            _check_port_ref(e, f"{path}.{h}.port", (probe[h] or {}).get("port"), ports)
    if "httpGet" in handlers and probe["httpGet"].get("scheme", "HTTP") not in ("HTTP", "HTTPS"):
        e.unsupported(f"{path}.httpGet.scheme", probe["httpGet"]["scheme"], ("HTTP", "HTTPS"))


def _check_port_ref(e: _Errors, path: str, port: Any, named: dict[str, int]) -> None:
    if port is None:
        e.required(path)
    elif _is_int(port):
        if not 1 <= port <= 65535:
            e.invalid(path, port, "must be between 1 and 65535, inclusive")
    elif isinstance(port, str):
        if not port.isdigit() and port not in named:
            e.invalid(path, port, "must contain at least one port named like this in the container")
    else:
        e.invalid(path, port, "must be a port number or name")


def _check_container(e: _Errors, path: str, c: Any, volumes: set[str], init: bool) -> str | None:
    if not isinstance(c, dict):
        e.invalid(path, c, "must be an object")
        return None
    name = c.get("name")
    _check_name(e, f"{path}.name", name, label=True)
    image = c.get("image")
    if not isinstance(image, str) or not image.strip():
        e.required(f"{path}.image")
    _check_str_list(e, f"{path}.command", c.get("command"))
    _check_str_list(e, f"{path}.args", c.get("args"))
    if c.get("imagePullPolicy") not in (None, *PULL_POLICIES):
        e.unsupported(f"{path}.imagePullPolicy", c["imagePullPolicy"], PULL_POLICIES)
    ports: dict[str, int] = {}
    for i, p in enumerate(c.get("ports") or []):
        pp = f"{path}.ports[{i}]"
        if not isinstance(p, dict):
            e.invalid(pp, p, "must be an object")
            continue
        cp = p.get("containerPort")
        if not _is_int(cp) or not 1 <= cp <= 65535:
            e.invalid(f"{pp}.containerPort", cp, "must be between 1 and 65535, inclusive")
        if p.get("protocol", "TCP") not in PROTOCOLS:
            e.unsupported(f"{pp}.protocol", p["protocol"], PROTOCOLS)
        if "name" in p:
            if not isinstance(p["name"], str) or len(p["name"]) > 15 or not _PORT_NAME.match(p["name"]):
                e.invalid(f"{pp}.name", p["name"], "must be no more than 15 characters (IANA_SVC_NAME)")
            elif _is_int(cp):
                ports[p["name"]] = cp
    for i, env in enumerate(c.get("env") or []):
        ep = f"{path}.env[{i}]"
        if not isinstance(env, dict):
            e.invalid(ep, env, "must be an object")
            continue
        if not isinstance(env.get("name"), str) or not env.get("name"):
            e.required(f"{ep}.name")
        elif not _ENV_NAME.match(env["name"]):
            e.invalid(f"{ep}.name", env["name"], "a valid environment variable name must consist of "
                      "alphabetic characters, digits, '_', '-', or '.', and must not start with a digit")
        if "value" in env and env["value"] is not None and not isinstance(env["value"], str):
            e.invalid(f"{ep}.value", env["value"], "must be a string")
        vf = env.get("valueFrom")
        if vf is not None:
            if env.get("value"):
                e.invalid(f"{ep}.valueFrom", vf, "may not be specified when `value` is not empty")
            kinds = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
                     if isinstance(vf, dict) and vf.get(k) is not None]
            if len(kinds) != 1:
                e.invalid(f"{ep}.valueFrom", vf, "must specify exactly one of: `fieldRef`, "
                          "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")
            for k in ("configMapKeyRef", "secretKeyRef"):
                if k in kinds:
                    for f in ("name", "key"):
                        if not vf[k].get(f):
                            e.required(f"{ep}.valueFrom.{k}.{f}")
            if "fieldRef" in kinds and not vf["fieldRef"].get("fieldPath"):
                e.required(f"{ep}.valueFrom.fieldRef.fieldPath")
    for i, src in enumerate(c.get("envFrom") or []):
        if not isinstance(src, dict) or len([k for k in ("configMapRef", "secretRef") if src.get(k)]) != 1:
            e.invalid(f"{path}.envFrom[{i}]", src, "must specify one of: `configMapRef` or `secretRef`")
    res = c.get("resources") or {}
    if not isinstance(res, dict):
        e.invalid(f"{path}.resources", res, "must be an object")
        res = {}
    limits = _check_quantities(e, f"{path}.resources.limits", res.get("limits"))
    requests = _check_quantities(e, f"{path}.resources.requests", res.get("requests"))
    for rname, req in requests.items():
        if rname in limits and req > limits[rname]:
            e.invalid(f"{path}.resources.requests", res["requests"][rname],
                      f"must be less than or equal to {rname} limit of {res['limits'][rname]}")
    mount_paths: set[str] = set()
    for i, vm in enumerate(c.get("volumeMounts") or []):
        vp = f"{path}.volumeMounts[{i}]"
        if not isinstance(vm, dict):
            e.invalid(vp, vm, "must be an object")
            continue
        if not vm.get("name"):
            e.required(f"{vp}.name")
        elif vm["name"] not in volumes:
            e.add(f"{vp}.name", f"Not found: {json.dumps(vm['name'])}")
        mp = vm.get("mountPath")
        if not isinstance(mp, str) or not mp:
            e.required(f"{vp}.mountPath")
        elif mp in mount_paths:
            e.invalid(f"{vp}.mountPath", mp, "must be unique")
        else:
            mount_paths.add(mp)
        sub = vm.get("subPath")
        if sub and (sub.startswith("/") or ".." in sub.split("/")):
            e.invalid(f"{vp}.subPath", sub, "must be a relative path without '..'")
    if c.get("restartPolicy") is not None and (not init or c["restartPolicy"] != "Always"):
        e.unsupported(f"{path}.restartPolicy", c["restartPolicy"], ("Always",) if init else ())
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if init and c.get(kind) is not None and c.get("restartPolicy") != "Always":
            e.add(f"{path}.{kind}", "Forbidden: may not be set for init containers")
        _check_probe(e, f"{path}.{kind}", c.get(kind), kind, ports)
    sc = c.get("securityContext")
    if sc is not None:
        if not isinstance(sc, dict):
            e.invalid(f"{path}.securityContext", sc, "must be an object")
        else:
            for f in ("runAsUser", "runAsGroup"):
                if f in sc and (not _is_int(sc[f]) or sc[f] < 0):
                    e.invalid(f"{path}.securityContext.{f}", sc[f], "must be between 0 and 2147483647")
            if sc.get("privileged") and sc.get("allowPrivilegeEscalation") is False:
                e.invalid(f"{path}.securityContext", sc,
                          "cannot set `allowPrivilegeEscalation` to false and `privileged` to true")
    return name if isinstance(name, str) else None


def _check_volume(e: _Errors, path: str, vol: Any) -> str | None:
    if not isinstance(vol, dict):
        e.invalid(path, vol, "must be an object")
        return None
    _check_name(e, f"{path}.name", vol.get("name"), label=True)
    sources = [s for s in VOLUME_SOURCES if vol.get(s) is not None]
    if not sources:
        e.required(f"{path}: must specify a volume type")
    elif len(sources) > 1:
        e.add(f"{path}.{sources[1]}", "Forbidden: may not specify more than 1 volume type")
    hp = vol.get("hostPath")
    if isinstance(hp, dict):
        if not isinstance(hp.get("path"), str) or not hp.get("path"):
            e.required(f"{path}.hostPath.path")
        if hp.get("type", "") not in HOSTPATH_TYPES:
            e.unsupported(f"{path}.hostPath.type", hp["type"], HOSTPATH_TYPES[1:])
    ed = vol.get("emptyDir")
    if isinstance(ed, dict):
        if ed.get("medium", "") not in ("", "Memory"):
            e.unsupported(f"{path}.emptyDir.medium", ed["medium"], ("", "Memory"))
        if ed.get("sizeLimit") is not None:
            _check_quantities(e, f"{path}.emptyDir", {"sizeLimit": ed["sizeLimit"]})
    for src, ref in (("configMap", "name"), ("secret", "secretName")):
        s = vol.get(src)
        if isinstance(s, dict):
            if not s.get(ref):
                e.required(f"{path}.{src}.{ref}")
            mode = s.get("defaultMode")
            if mode is not None and (not _is_int(mode) or not 0 <= mode <= 0o777):
                e.invalid(f"{path}.{src}.defaultMode", mode, "must be a number between 0 and 0777")
            for i, item in enumerate(s.get("items") or []):
                p = item.get("path", "") if isinstance(item, dict) else ""
                if not item.get("key"):
                    e.required(f"{path}.{src}.items[{i}].key")
                if not p or p.startswith("/") or ".." in p.split("/"):
                    e.invalid(f"{path}.{src}.items[{i}].path", p, "must be a relative path without '..'")
    if isinstance(vol.get("persistentVolumeClaim"), dict) and not vol["persistentVolumeClaim"].get(
            "claimName"):
        e.required(f"{path}.persistentVolumeClaim.claimName")
    return vol.get("name") if isinstance(vol.get("name"), str) else None


def validate_pod(pod: dict) -> None:
    """Raise PodSpecError listing every problem (a defaulted Pod is expected)."""
    e = _Errors()
    if pod.get("apiVersion", "v1") != "v1":
        e.unsupported("apiVersion", pod.get("apiVersion"), ("v1",))
    if pod.get("kind", "Pod") != "Pod":
        e.unsupported("kind", pod.get("kind"), ("Pod",))
    meta = pod.get("metadata")
    if not isinstance(meta, dict):
        e.required("metadata")
        meta = {}
    if not meta.get("name"):
        e.required("metadata.name: name or generateName is required")
    else:
        _check_name(e, "metadata.name", meta["name"], label=False)
    _check_name(e, "metadata.namespace", meta.get("namespace"), label=True)
    for f in ("labels", "annotations"):
        v = meta.get(f)
        if v is not None and (not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values())):
            e.invalid(f"metadata.{f}", v, "must be a map of string to string")
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        e.required("spec")
        raise PodSpecError(e.items)
    if spec.get("restartPolicy") not in RESTART_POLICIES:
        e.unsupported("spec.restartPolicy", spec.get("restartPolicy"), RESTART_POLICIES)
    tg = spec.get("terminationGracePeriodSeconds")
    if not _is_int(tg) or tg < 0:
        e.invalid("spec.terminationGracePeriodSeconds", tg, "must be greater than or equal to 0")
    volumes: set[str] = set()
    vols = spec.get("volumes") or []
    if not isinstance(vols, list):
        e.invalid("spec.volumes", vols, "must be a list")
        vols = []
    for i, vol in enumerate(vols):
        name = _check_volume(e, f"spec.volumes[{i}]", vol)
        if name in volumes:
            e.add(f"spec.volumes[{i}].name", f"Duplicate value: {json.dumps(name)}")
        elif name:
            volumes.add(name)
    if not spec.get("containers"):
        e.required("spec.containers")
    names: set[str] = set()
    for field in ("initContainers", "containers"):
        items = spec.get(field) or []
        if not isinstance(items, list):
            e.invalid(f"spec.{field}", items, "must be a list")
            continue
        for i, c in enumerate(items):
            name = _check_container(e, f"spec.{field}[{i}]", c, volumes, field == "initContainers")
            if name in names:
                e.add(f"spec.{field}[{i}].name", f"Duplicate value: {json.dumps(name)}")
            elif name:
                names.add(name)
    if e.items:
        raise PodSpecError(e.items)
