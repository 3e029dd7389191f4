"""Fit `minikube_py.api.client.Client` to the interface the loops use (client.py).

The loops name resources by plural everywhere (`create("pods", obj, ns)`), while the API
client reads the kind from the object (`create(obj)`); this keeps the loops independent
of the client and lets the unit tests hand them an in-memory fake instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .client import RESOURCES

Obj = dict[str, Any]


def adapt(client: Any) -> Any:
    """The API client wrapped; anything already speaking the loops' interface, unchanged."""
    if isinstance(client, ClientAdapter) or not hasattr(client, "bind"):
        return client
    return ClientAdapter(client)


def _stamped(resource: str, obj: Obj) -> Obj:
    if obj.get("kind") and obj.get("apiVersion"):
        return obj
    api_version, kind, _ = RESOURCES[resource]
    return {**obj, "apiVersion": obj.get("apiVersion") or api_version, "kind": obj.get("kind") or kind}


class _Watch:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.inner)

    def close(self) -> None:
        self.inner.stop()


class ClientAdapter:
    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj:
        return self.client.get(resource, name, namespace)

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        return self.client.list(
            resource, namespace, label_selector=label_selector, field_selector=field_selector
        )

    def create(
        self,
        resource: str,
        obj: Obj,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        name: str | None = None,
    ) -> Obj:
        if subresource == "binding":
            return self.client.bind(namespace, name or obj["metadata"]["name"], obj["target"]["name"])
        if subresource:
            raise ValueError(f"create: subresource {subresource!r} is not supported here")
        return self.client.create(_stamped(resource, obj), namespace)

    def update(
        self, resource: str, obj: Obj, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        return self.client.update(_stamped(resource, obj), subresource or "", namespace)

    def patch(
        self,
        resource: str,
        name: str,
        patch: Obj,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        patch_type: str = "merge",
    ) -> Obj:
        return self.client.patch(
            resource, name, patch, namespace, patch_type=patch_type, subresource=subresource or ""
        )

    def delete(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
    ) -> Obj | None:
        return self.client.delete(
            resource,
            name,
            namespace,
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
            preconditions={"uid": uid} if uid else None,
        )

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
    ) -> _Watch:
        return _Watch(
            self.client.watch(
                resource,
                namespace,
                resource_version=resource_version,
                label_selector=label_selector,
                field_selector=field_selector,
                timeout_seconds=timeout_seconds,
                bookmarks=True,
            )
        )
