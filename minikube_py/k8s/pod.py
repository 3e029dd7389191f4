"""Pod logic both the API server and the kubelet need: the API server's defaulting of a
pod spec (SetDefaults_PodSpec & co.) and the QoS class (pkg/apis/core/v1/helper/qos).

The API server defaults every pod it stores; the kubelet defaults static pods from files,
which never pass through an API server, so both call `default_pod_spec`.
"""

from __future__ import annotations

from fractions import Fraction

from minikube_py.k8s import quantity

GUARANTEED, BURSTABLE, BEST_EFFORT = "Guaranteed", "Burstable", "BestEffort"
_QOS_RESOURCES = ("cpu", "memory")
# 0644, what configMap/secret/projected/downwardAPI volumes default their files to.
DEFAULT_MODE = 0o644


def containers_of(spec: dict) -> list[dict]:
    """Init containers and app containers (the well-formed ones)."""
    return [c for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
            if isinstance(c, dict)]


# ------------------------------------------------------------------ defaults
def image_pull_policy(image: str) -> str:
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


def default_container(c: dict) -> None:
    if isinstance(c.get("image"), str) and c["image"]:
        c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
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


def default_volume(vol: dict) -> None:
    for src in ("configMap", "secret", "projected", "downwardAPI"):
        if isinstance(vol.get(src), dict):
            vol[src].setdefault("defaultMode", DEFAULT_MODE)
    if isinstance(vol.get("hostPath"), dict):
        vol["hostPath"].setdefault("type", "")


def default_pod_spec(spec: dict, *, sourceless_volumes_are_empty_dirs: bool = True) -> None:
    """Fill in what the API server's defaulting adds to a pod spec, in place.

    The API server turns a volume that names no source into an emptyDir (SetDefaults_Volume);
    the kubelet passes False so that a static pod file with such a volume is reported instead."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for c in containers_of(spec):
        default_container(c)
    for vol in spec.get("volumes") or []:
        if isinstance(vol, dict):
            default_volume(vol)
            if sourceless_volumes_are_empty_dirs and not [k for k in vol if k != "name"]:
                vol["emptyDir"] = {}


# ------------------------------------------------------------------ QoS
def qos_class(spec: dict) -> str:
    """Only cpu and memory count; nothing requested or limited anywhere -> BestEffort; every
    container limits cpu *and* memory and the summed requests equal the summed limits ->
    Guaranteed; otherwise Burstable. Raises QuantityError on a bad quantity."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for c in containers_of(spec):
        res = c.get("resources") or {}
        for name, q in (res.get("requests") or {}).items():
            v = quantity.parse(q)
            if name in _QOS_RESOURCES and v > 0:
                requests[name] = requests.get(name, Fraction(0)) + v
        found = set()
        for name, q in (res.get("limits") or {}).items():
            v = quantity.parse(q)
            if name in _QOS_RESOURCES and v > 0:
                found.add(name)
                limits[name] = limits.get(name, Fraction(0)) + v
        if not found >= set(_QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return BEST_EFFORT
    if guaranteed and all(name in limits and limits[name] == req for name, req in requests.items()) \
            and len(requests) == len(limits):
        return GUARANTEED
    return BURSTABLE
