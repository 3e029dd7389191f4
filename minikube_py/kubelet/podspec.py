"""v1 Pod objects: load (YAML/JSON), apply the API server's defaults, validate.

Pods stay plain dicts shaped exactly like Kubernetes JSON (that is what the API
server stores and what `kubectl get -o json` prints); this module only makes
them complete and checks what the kubelet relies on. Errors read like the API
server's: `spec.containers[0].image: Required value`, all of them at once.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

import yaml

from minikube_py.k8s import validation as rules
from minikube_py.k8s.pod import default_pod_spec


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
def default_pod(obj: dict) -> dict:
    """What the API server's defaulting adds (SetDefaults_Pod & co.), on a deep copy."""
    pod = copy.deepcopy(obj)
    meta = pod.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta.setdefault("namespace", "default")
    spec = pod.setdefault("spec", {})
    if isinstance(spec, dict):
        default_pod_spec(spec, sourceless_volumes_are_empty_dirs=False)
    return pod


# ------------------------------------------------------------------ validation
class _Errors:
    """The shared rules' error sink (minikube_py/k8s/validation.py): (field path, message) pairs."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def required(self, path: str, detail: str = "") -> None:
        self.items.append((path, "Required value" + (f": {detail}" if detail else "")))

    def invalid(self, path: str, value: Any, why: str) -> None:
        self.items.append((path, f"Invalid value: {json.dumps(value, default=str)}: {why}"))

    def not_supported(self, path: str, value: Any, allowed: Iterable[str]) -> None:
        supported = ", ".join(f'"{a}"' for a in allowed)
        self.items.append((path, f"Unsupported value: {json.dumps(value, default=str)}: "
                                 f"supported values: {supported}"))

    def duplicate(self, path: str, value: Any) -> None:
        self.items.append((path, f"Duplicate value: {json.dumps(value, default=str)}"))

    def forbidden(self, path: str, detail: str) -> None:
        self.items.append((path, f"Forbidden: {detail}"))

    def not_found(self, path: str, value: Any) -> None:
        self.items.append((path, f"Not found: {json.dumps(value, default=str)}"))


def validate_pod(pod: dict) -> None:
    """Raise PodSpecError listing every problem (a defaulted Pod is expected). The spec's rules
    are the API server's own (minikube_py/k8s/validation.py), limited to the volume types the
    kubelet can mount; what it adds is the object around the spec, which no API server checked."""
    e = _Errors()
    if pod.get("apiVersion", "v1") != "v1":
        e.not_supported("apiVersion", pod.get("apiVersion"), ["v1"])
    if pod.get("kind", "Pod") != "Pod":
        e.not_supported("kind", pod.get("kind"), ["Pod"])
    meta = pod.get("metadata")
    if not isinstance(meta, dict):
        e.required("metadata")
        meta = {}
    if not meta.get("name"):
        e.required("metadata.name", "name or generateName is required")
    else:
        rules.dns_subdomain(e, "metadata.name", meta["name"])
    if not meta.get("namespace"):
        e.required("metadata.namespace")
    else:
        rules.dns_label(e, "metadata.namespace", meta["namespace"])
    for f in ("labels", "annotations"):
        v = meta.get(f)
        if v is not None and (not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values())):
            e.invalid(f"metadata.{f}", v, "must be a map of string to string")
    rules.validate_pod_spec(e, "spec", pod.get("spec"), volume_sources=rules.KUBELET_VOLUME_SOURCES)
    if e.items:
        raise PodSpecError(e.items)
