"""What the control loops need from an API client, and how they read its errors.

The loops take any object with these methods (the real `minikube_py.api.client.Client`
through `adapter.py`, or an in-memory fake in the unit tests). Resources are named by
their plural (`pods`, `replicasets`), objects are plain dicts shaped like Kubernetes JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

Obj = dict[str, Any]


class ApiClient(Protocol):
    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj: ...

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj: ...

    def create(
        self,
        resource: str,
        obj: Obj,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        name: str | None = None,
    ) -> Obj: ...

    def update(
        self, resource: str, obj: Obj, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj: ...

    def patch(
        self,
        resource: str,
        name: str,
        patch: Obj,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        patch_type: str = "merge",
    ) -> Obj: ...

    def delete(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
    ) -> Obj | None: ...

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
    ) -> Iterable[Obj]:
        """Events {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}.

        The iterable may have close(), callable from another thread, to end it early.
        """
        ...


# plural -> (apiVersion, kind, namespaced): the resources the loops touch.
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "namespaces": ("v1", "Namespace", False),
    "nodes": ("v1", "Node", False),
    "pods": ("v1", "Pod", True),
    "services": ("v1", "Service", True),
    "endpoints": ("v1", "Endpoints", True),
    "configmaps": ("v1", "ConfigMap", True),
    "secrets": ("v1", "Secret", True),
    "serviceaccounts": ("v1", "ServiceAccount", True),
    "events": ("v1", "Event", True),
    "persistentvolumeclaims": ("v1", "PersistentVolumeClaim", True),
    "persistentvolumes": ("v1", "PersistentVolume", False),
    "replicasets": ("apps/v1", "ReplicaSet", True),
    "deployments": ("apps/v1", "Deployment", True),
    "leases": ("coordination.k8s.io/v1", "Lease", True),
}
KIND_TO_RESOURCE = {(api_version, kind): plural for plural, (api_version, kind, _) in RESOURCES.items()}


def resource_for(api_version: str, kind: str) -> str | None:
    """`apps/v1`, `ReplicaSet` -> `replicasets` (the group matters, the version does not)."""
    group = api_version.rpartition("/")[0]
    for (av, k), plural in KIND_TO_RESOURCE.items():
        if k == kind and av.rpartition("/")[0] == group:
            return plural
    return None


def namespaced(resource: str) -> bool:
    return RESOURCES[resource][2]


# ---------------------------------------------------------------- errors
def error_code(exc: BaseException) -> int | None:
    """The HTTP code of an API error (the client raises Kubernetes Status errors with .code)."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def error_reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", "") or "")


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) == 404


def is_conflict(exc: BaseException) -> bool:
    return error_code(exc) == 409 and error_reason(exc) != "AlreadyExists"


def is_already_exists(exc: BaseException) -> bool:
    return error_code(exc) == 409 and error_reason(exc) == "AlreadyExists"


def is_gone(exc: BaseException) -> bool:
    return error_code(exc) == 410


def is_api_error(exc: BaseException) -> bool:
    return error_code(exc) is not None
