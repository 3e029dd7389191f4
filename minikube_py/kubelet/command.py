"""What a container runs: argv and environment, exactly as kubelet + containerd build them.

argv (containerd's WithProcessArgs, after kubelet expands $(VAR)):
  command set          -> command + args            (image Entrypoint and Cmd ignored)
  only args set        -> image Entrypoint + args   (image Cmd ignored)
  neither              -> image Entrypoint + image Cmd
Environment (kubelet's makeEnvironmentVariables): envFrom sources in order, then `env`
in order; each `value` may use $(VAR) for variables defined *before* it; `$$` escapes.
The runtime then lays HOSTNAME, the image's Env, then these on top.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from minikube_py.kubelet import quantity


class ContainerConfigError(Exception):
    """The container cannot be configured yet (shown as waiting: CreateContainerConfigError)."""


class ObjectSource(Protocol):
    """Where ConfigMaps and Secrets come from (the API server, or a dict in tests/static pods)."""

    def get_configmap(self, namespace: str, name: str) -> dict | None: ...
    def get_secret(self, namespace: str, name: str) -> dict | None: ...


class DictObjects:
    """An ObjectSource backed by dicts of Kubernetes objects: {(namespace, name): object}."""

    def __init__(self, configmaps: Mapping | None = None, secrets: Mapping | None = None) -> None:
        self.configmaps = dict(configmaps or {})
        self.secrets = dict(secrets or {})

    def get_configmap(self, namespace: str, name: str) -> dict | None:
        return self.configmaps.get((namespace, name))

    def get_secret(self, namespace: str, name: str) -> dict | None:
        return self.secrets.get((namespace, name))


# ------------------------------------------------------------------ $(VAR) expansion
def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes' $(VAR) syntax: defined names are replaced, unknown ones stay as written,
    `$$` becomes `$`, an unclosed `$(` and any other `$x` are kept literally."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 == n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close == -1:
                out.append("$(")
                i += 2
            else:
                name = text[i + 2:close]
                val = lookup(name)
                out.append(val if val is not None else f"$({name})")
                i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def process_args(container: dict, image_config: dict, env: Mapping[str, str]) -> list[str]:
    """The argv the process runs (raises ContainerConfigError when there is none)."""
    look = env.get
    command = [expand(s, look) for s in container.get("command") or []]
    args = [expand(s, look) for s in container.get("args") or []]
    if not command:
        if not args:
            args = list(image_config.get("Cmd") or [])
        entry = list(image_config.get("Entrypoint") or [])
        # An image may reset its entrypoint with [""]; that means "none".
        command = [] if entry == [""] else entry
    argv = command + args
    if not argv:
        raise ContainerConfigError("no command specified")
    return argv


# ------------------------------------------------------------------ env
@dataclass
class EnvContext:
    pod: dict
    node_name: str = ""
    pod_ips: list[str] = field(default_factory=list)
    host_ips: list[str] = field(default_factory=list)
    node_allocatable: dict[str, str] = field(default_factory=dict)   # for resourceFieldRef defaults
    service_env: dict[str, str] = field(default_factory=dict)        # FOO_SERVICE_HOST etc.
    objects: ObjectSource = field(default_factory=DictObjects)


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_ref(pod: dict, path: str, ctx: EnvContext) -> str:
    """The value of a downward-API fieldRef (`metadata.name`, `status.podIP`, ...)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    m = _SUBSCRIPT.match(path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    simple: dict[str, Callable[[], Any]] = {
        "metadata.name": lambda: meta.get("name", ""),
        "metadata.namespace": lambda: meta.get("namespace", ""),
        "metadata.uid": lambda: meta.get("uid", ""),
        "metadata.labels": lambda: _format_map(meta.get("labels") or {}),
        "metadata.annotations": lambda: _format_map(meta.get("annotations") or {}),
        "spec.nodeName": lambda: spec.get("nodeName") or ctx.node_name,
        "spec.serviceAccountName": lambda: spec.get("serviceAccountName", ""),
        "status.hostIP": lambda: ctx.host_ips[0] if ctx.host_ips else "",
        "status.hostIPs": lambda: ",".join(ctx.host_ips),
        "status.podIP": lambda: ctx.pod_ips[0] if ctx.pod_ips else "",
        "status.podIPs": lambda: ",".join(ctx.pod_ips),
    }
    if path not in simple:
        raise ContainerConfigError(f"unsupported fieldPath: {path}")
    return str(simple[path]())


def _format_map(m: Mapping[str, str]) -> str:
    # The downward API file format: key="value" lines, sorted, values quoted like Go's %q.
    return "\n".join(f'{k}="{_go_quote(v)}"' for k, v in sorted(m.items()))


def _go_quote(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def resource_field_ref(pod: dict, container_name: str, ref: dict, ctx: EnvContext) -> str:
    """limits.cpu / requests.memory / ... of a container, divided by `divisor`, rounded up.
    Unset limits fall back to the node's allocatable (as kubelet does)."""
    cname = ref.get("containerName") or container_name
    container = next((c for c in (pod["spec"].get("containers") or []) + (pod["spec"].get(
        "initContainers") or []) if c.get("name") == cname), None)
    if container is None:
        raise ContainerConfigError(f"resourceFieldRef: no container named {cname!r}")
    kind, _, res = (ref.get("resource") or "").partition(".")
    if kind not in ("limits", "requests") or res not in ("cpu", "memory", "ephemeral-storage"):
        raise ContainerConfigError(f"unsupported container resource: {ref.get('resource')}")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(res)
    if raw is None:
        raw = ctx.node_allocatable.get(res, "0") if kind == "limits" else "0"
    divisor = quantity.parse(ref.get("divisor") or "1")
    if divisor == 0:
        divisor = quantity.parse("1")
    return str(math.ceil(quantity.parse(raw) / divisor))


def _configmap_data(ctx: EnvContext, ns: str, name: str, optional: bool) -> dict[str, str] | None:
    cm = ctx.objects.get_configmap(ns, name)
    if cm is None:
        if optional:
            return None
        raise ContainerConfigError(f'configmap "{name}" not found')
    return dict(cm.get("data") or {})


def _secret_data(ctx: EnvContext, ns: str, name: str, optional: bool) -> dict[str, str] | None:
    s = ctx.objects.get_secret(ns, name)
    if s is None:
        if optional:
            return None
        raise ContainerConfigError(f'secret "{name}" not found')
    return secret_values(s)


def secret_values(secret: dict) -> dict[str, str]:
    """A Secret's `data` (base64) decoded, with `stringData` on top (as the API server merges it)."""
    out = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.get("data") or {}).items()}
    out.update(secret.get("stringData") or {})
    return out


_VALID_ENV = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def container_env(container: dict, ctx: EnvContext) -> tuple[dict[str, str], list[str]]:
    """(environment, invalid envFrom keys that were skipped). Raises ContainerConfigError."""
    pod = ctx.pod
    ns = pod["metadata"].get("namespace", "default")
    env: dict[str, str] = {}
    skipped: list[str] = []
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix") or ""
        if src.get("configMapRef"):
            ref = src["configMapRef"]
            data = _configmap_data(ctx, ns, ref["name"], bool(ref.get("optional")))
        else:
            ref = src["secretRef"]
            data = _secret_data(ctx, ns, ref["name"], bool(ref.get("optional")))
        for k, v in (data or {}).items():
            if not _VALID_ENV.match(prefix + k):
                skipped.append(prefix + k)
                continue
            env[prefix + k] = v

    def lookup(name: str) -> str | None:
        return env.get(name, ctx.service_env.get(name))

    for var in container.get("env") or []:
        name = var["name"]
        vf = var.get("valueFrom")
        if not vf:
            env[name] = expand(var.get("value") or "", lookup)
            continue
        if vf.get("fieldRef"):
            env[name] = field_ref(pod, vf["fieldRef"]["fieldPath"], ctx)
        elif vf.get("resourceFieldRef"):
            env[name] = resource_field_ref(pod, container["name"], vf["resourceFieldRef"], ctx)
        else:
            is_cm = bool(vf.get("configMapKeyRef"))
            ref = vf["configMapKeyRef"] if is_cm else vf["secretKeyRef"]
            optional = bool(ref.get("optional"))
            data = (_configmap_data if is_cm else _secret_data)(ctx, ns, ref["name"], optional)
            if data is None:
                continue
            if ref["key"] not in data:
                if optional:
                    continue
                kind = "ConfigMap" if is_cm else "Secret"
                raise ContainerConfigError(f"couldn't find key {ref['key']} in {kind} {ns}/{ref['name']}")
            env[name] = data[ref["key"]]
    # Service links go in last and never override the pod's own variables.
    for k, v in ctx.service_env.items():
        env.setdefault(k, v)
    return env, skipped


def oci_env(kube_env: Mapping[str, str], image_config: dict, hostname: str) -> list[str]:
    """The process env: HOSTNAME, then the image's Env, then the pod's, later ones winning."""
    merged: dict[str, str] = {"HOSTNAME": hostname} if hostname else {}
    for item in image_config.get("Env") or []:
        k, _, v = item.partition("=")
        merged[k] = v
    merged.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    merged.update(kube_env)
    return [f"{k}={v}" for k, v in merged.items()]
