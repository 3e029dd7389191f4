"""Every resource the server knows: where it lives (group/version/plural), its kind, verbs,
short names and subresources. Discovery, URL routing, storage keys and the client all read
this one table, so adding a kind is adding a line here (plus its defaults and validation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str  # "" is the core group ("/api/v1")
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # subresource name -> (kind it speaks, verbs)
    subresources: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    verbs: tuple[str, ...] = tuple(ALL_VERBS)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`pods` or `deployments.apps`: how Kubernetes names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def key_prefix(self, namespace: str | None = None) -> str:
        """Storage key prefix; like the real apiserver's `/registry/<resource>/<ns>/<name>`."""
        base = (
            f"/registry/{self.plural}/"
            if not self.group or self.group == "events.k8s.io"
            else f"/registry/{self.group}/{self.plural}/"
        )
        if self.namespaced and namespace:
            return f"{base}{namespace}/"
        return base

    def key(self, namespace: str | None, name: str) -> str:
        return f"{self.key_prefix(namespace if self.namespaced else None)}{name}"


_STATUS = ("get", "patch", "update")


def _r(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool,
    short: tuple[str, ...] = (),
    cats: tuple[str, ...] = (),
    subs: dict[str, tuple[str, tuple[str, ...]]] | None = None,
    verbs: tuple[str, ...] = tuple(ALL_VERBS),
) -> Resource:
    return Resource(group, version, plural, kind, namespaced, short, cats, subs or {}, verbs)


RESOURCES: list[Resource] = [
    _r(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        ("ns",),
        subs={"status": ("Namespace", _STATUS), "finalize": ("Namespace", ("update",))},
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    ),
    _r(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        ("po",),
        ("all",),
        subs={
            "status": ("Pod", _STATUS),
            "binding": ("Binding", ("create",)),
            "log": ("Pod", ("get",)),
            "exec": ("PodExecOptions", ("create", "get")),
            "portforward": ("PodPortForwardOptions", ("create", "get")),
            "attach": ("PodAttachOptions", ("create", "get")),
            "eviction": ("Eviction", ("create",)),
        },
    ),
    _r(
        "",
        "v1",
        "services",
        "Service",
        True,
        ("svc",),
        ("all",),
        subs={"status": ("Service", _STATUS)},
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    ),
    _r("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    _r("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    _r("", "v1", "secrets", "Secret", True),
    _r("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    _r("", "v1", "nodes", "Node", False, ("no",), subs={"status": ("Node", _STATUS)}),
    _r("", "v1", "events", "Event", True, ("ev",)),
    _r(
        "",
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        False,
        ("pv",),
        subs={"status": ("PersistentVolume", _STATUS)},
    ),
    _r(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        True,
        ("pvc",),
        subs={"status": ("PersistentVolumeClaim", _STATUS)},
    ),
    _r(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        ("deploy",),
        ("all",),
        subs={"status": ("Deployment", _STATUS), "scale": ("Scale", _STATUS)},
    ),
    _r(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        True,
        ("rs",),
        ("all",),
        subs={"status": ("ReplicaSet", _STATUS), "scale": ("Scale", _STATUS)},
    ),
    _r("coordination.k8s.io", "v1", "leases", "Lease", True),
    _r("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    _r(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        True,
        ("ing",),
        subs={"status": ("Ingress", _STATUS)},
    ),
    _r("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    _r("events.k8s.io", "v1", "events", "Event", True, ("ev",)),
    # Not stored: computed from the kubelets' figures on each GET (minikube_py/api/metrics.py).
    _r("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, verbs=("get", "list")),
    _r("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, verbs=("get", "list")),
]

GROUPS: dict[str, list[str]] = {}
for _res in RESOURCES:
    GROUPS.setdefault(_res.group, [])
    if _res.version not in GROUPS[_res.group]:
        GROUPS[_res.group].append(_res.version)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def by_path(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    return _BY_KIND.get((api_version, kind))


def lookup(name: str) -> Resource:
    """Find a resource by plural, singular, short name or Kind (`po`, `pod`, `Pod`, `deployments.apps`).

    Prefers the core/apps flavour when two groups share a name (events).
    """
    want, _, group = name.partition(".")
    low = want.lower()
    for r in RESOURCES:
        if group and r.group != group:
            continue
        if low in (r.plural, r.singular) or low in r.short_names or want == r.kind:
            return r
    raise KeyError(f"unknown resource {name!r}")
