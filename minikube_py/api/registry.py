"""Object semantics on top of the key-value store: what create/update/patch/delete *mean*.

Each verb reads, computes the new object (defaults, validation, metadata), and writes with a
compare-and-swap on the revision it read. The store's revision becomes the object's
`resourceVersion`; a stale one in a request is a 409 Conflict. Nothing is written until
the whole new object is valid, so a bad request changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from minikube_py.k8s.pod import qos_class
from minikube_py.k8s.selectors import LabelSelector, selector_string

from . import patch as patches
from .allocator import Allocator, Claims
from .errors import ApiError, already_exists, bad_request, conflict, gone, not_found
from .objects import apply_defaults, validate, validate_update
from .objects.fields import check_unknown_fields
from .objects.meta import generate_name, later, new_uid, now
from .resources import Resource, lookup
from .selectors import FieldSelector
from .storage import KV, Backend, Compacted, KeyExists, KeyNotFound, RevisionMismatch
from .storage.encryption import Transformer

PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}

# Namespaces every cluster has.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

# Status subresource semantics: the main resource ignores .status, /status changes only .status.
_RESET_STATUS_ON_CREATE = {
    "pods",
    "deployments",
    "replicasets",
    "services",
    "persistentvolumeclaims",
    "persistentvolumes",
    "namespaces",
}


def _drop_type_dependent_fields(new: dict, old: dict) -> None:
    """NodePort -> ClusterIP: the node ports the user left as they were go with the old type."""
    ns, os_ = new.get("spec") or {}, old.get("spec") or {}
    if os_.get("type") in ("NodePort", "LoadBalancer") and ns.get("type") in ("ClusterIP", "ExternalName"):
        before = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in os_.get("ports") or []
        }
        for p in ns.get("ports") or []:
            if p.get("nodePort") and p["nodePort"] == before.get((p.get("port"), p.get("protocol", "TCP"))):
                del p["nodePort"]


def _schema_key(res: Resource) -> str:
    return f"{res.group}/{res.plural}" if res.group == "events.k8s.io" else res.plural


class Registry:
    def __init__(
        self, backend: Backend, transformer: Transformer | None = None, allocator: Allocator | None = None
    ) -> None:
        self.backend = backend
        self.transformer = transformer or Transformer(None)
        self.allocator = allocator or Allocator()
        self.claims = Claims(backend, self.allocator)
        self._service_lock = asyncio.Lock()

    # ------------------------------------------------------------------ encoding
    def decode(self, res: Resource, kv: KV, revision: int | None = None) -> dict[str, Any]:
        obj = json.loads(self.transformer.from_storage(kv.key, kv.value))
        obj.setdefault("metadata", {})["resourceVersion"] = str(revision or kv.mod_revision)
        if res.group == "events.k8s.io":
            from .objects.events import to_events_v1

            return to_events_v1(obj)
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind
        return obj

    def encode(self, key: str, obj: dict[str, Any]) -> bytes:
        meta = obj.get("metadata") or {}
        stored = {
            **obj,
            "metadata": {k: v for k, v in meta.items() if k not in ("resourceVersion", "managedFields")},
        }
        data = json.dumps(stored, separators=(",", ":"), sort_keys=False).encode()
        return self.transformer.to_storage(key, data)

    def _to_storage_shape(self, res: Resource, obj: dict) -> tuple[Resource, dict]:
        """events.k8s.io/v1 Events are stored as core/v1 Events (one store, two views)."""
        if res.group == "events.k8s.io":
            from .objects.events import from_events_v1

            return lookup("events"), from_events_v1(obj)
        return res, obj

    # ------------------------------------------------------------------ read
    async def get(self, res: Resource, ns: str | None, name: str) -> dict[str, Any]:
        kv = await self.backend.get(res.key(ns, name))
        if kv is None:
            raise not_found(res.plural, name, res.group)
        return self.decode(res, kv)

    async def list(
        self,
        res: Resource,
        ns: str | None,
        label: LabelSelector,
        field: FieldSelector,
        limit: int = 0,
        cont: str = "",
    ) -> dict[str, Any]:
        prefix = res.key_prefix(ns)
        start, list_rev = "", 0
        if cont:
            try:
                token = json.loads(base64.urlsafe_b64decode(cont.encode()))
                start, list_rev = token["start"], int(token["rv"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid: unparseable") from None
            if not start.startswith(prefix):
                raise bad_request("continue key is not valid: wrong prefix")
        items: list[dict] = []
        more = False
        rev = 0
        batch = max(limit, 100) if limit else 0
        while True:
            try:
                kvs, rev, more = await self.backend.list(
                    prefix, start_after=start, limit=batch, revision=list_rev
                )
            except Compacted:
                raise gone(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                ) from None
            for kv in kvs:
                start = kv.key
                obj = self.decode(res, kv)
                if label.matches(obj["metadata"].get("labels")) and field.matches(obj):
                    items.append(obj)
                    if limit and len(items) >= limit:
                        more = more or kv is not kvs[-1]
                        break
            if not limit or len(items) >= limit or not more:
                break
        meta: dict[str, Any] = {"resourceVersion": str(list_rev or rev)}
        if limit and more:
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"rv": list_rev or rev, "start": start}).encode()
            ).decode()
        return {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta, "items": items}

    # ------------------------------------------------------------------ create
    async def create(
        self,
        res: Resource,
        ns: str | None,
        body: Any,
        dry_run: bool = False,
        field_validation: str | None = None,
    ) -> dict[str, Any]:
        return self._as_view(res, await self._create(res, ns, body, dry_run, field_validation))

    def _as_view(self, res: Resource, obj: dict) -> dict:
        """Answer in the API group the caller used (events.k8s.io Events are stored as core ones)."""
        if res.group == "events.k8s.io" and obj.get("apiVersion") == "v1":
            from .objects.events import to_events_v1

            return to_events_v1(obj)
        return obj

    async def _create(
        self, res: Resource, ns: str | None, body: Any, dry_run: bool, field_validation: str | None
    ) -> dict[str, Any]:
        obj = self._check_body(res, ns, body)
        check_unknown_fields(_schema_key(res), res.kind, res.api_version, obj, field_validation)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generate_name(meta["generateName"])
        if res.namespaced:
            await self._check_namespace(meta.get("namespace") or "", creating=True)
        res, obj = self._to_storage_shape(res, obj)
        meta = obj["metadata"]
        for k in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ):
            meta.pop(k, None)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now()
        if "spec" in obj or res.plural in ("pods", "deployments", "replicasets"):
            meta["generation"] = 1
        if res.plural in _RESET_STATUS_ON_CREATE:
            obj.pop("status", None)
        apply_defaults(res.plural, obj)
        validate(res, obj)
        if res.plural == "pods":
            obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj["spec"])}
        key = res.key(meta.get("namespace"), meta["name"])
        if res.plural == "services":
            async with self._service_lock:
                if dry_run:
                    self.allocator.assign(obj, await self._all_services(), None)
                    return await self._insert(res, key, obj, dry_run)
                claimed = await self.claims.allocate(obj, await self._all_services(), None, key)
                try:
                    return await self._insert(res, key, obj, dry_run)
                except BaseException:
                    await self.claims.release(claimed, key)
                    raise
        return await self._insert(res, key, obj, dry_run)

    async def _insert(self, res: Resource, key: str, obj: dict, dry_run: bool) -> dict:
        if dry_run:
            if await self.backend.get(key) is not None:
                raise already_exists(res.plural, obj["metadata"]["name"], res.group)
            return obj
        try:
            rev = await self.backend.create(key, self.encode(key, obj))
        except KeyExists:
            raise already_exists(res.plural, obj["metadata"]["name"], res.group) from None
        obj["metadata"]["resourceVersion"] = str(rev)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        return obj

    def _check_body(self, res: Resource, ns: str | None, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        obj = copy.deepcopy(body)
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != res.kind:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({res.api_version})"
                if kind is None
                else f"kind {kind!r} does not match the resource {res.plural!r} (expected {res.kind!r})"
            )
        if api_version and api_version != res.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({res.api_version})"
            )
        obj["kind"], obj["apiVersion"] = res.kind, res.api_version
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if res.namespaced:
            if meta.get("namespace") and ns and meta["namespace"] != ns:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = meta.get("namespace") or ns or "default"
        else:
            meta.pop("namespace", None)
        return obj

    async def _check_namespace(self, ns: str, creating: bool) -> None:
        kv = await self.backend.get(lookup("namespaces").key(None, ns))
        if kv is None:
            raise not_found("namespaces", ns)
        nsobj = json.loads(kv.value)
        if creating and nsobj.get("metadata", {}).get("deletionTimestamp"):
            raise ApiError(
                "Forbidden",
                f"unable to create new content in namespace {ns} because it is being terminated",
                details={"name": ns, "kind": "namespaces"},
            )

    async def _all_services(self) -> list[dict]:
        res = lookup("services")
        kvs, _, _ = await self.backend.list(res.key_prefix(None))
        return [self.decode(res, kv) for kv in kvs]

    # ------------------------------------------------------------------ update
    async def update(
        self,
        res: Resource,
        ns: str | None,
        name: str,
        body: Any,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str | None = None,
    ) -> dict[str, Any]:
        new = self._check_body(res, ns, body)
        check_unknown_fields(_schema_key(res), res.kind, res.api_version, new, field_validation)
        if new["metadata"].get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({new['metadata']['name']}) does not match the name on "
                f"the URL ({name})"
            )
        new["metadata"]["name"] = name
        view, (res, new) = res, self._to_storage_shape(res, new)
        key = res.key(ns, name)
        kv = await self.backend.get(key)
        if kv is None:
            raise not_found(res.plural, name, res.group)
        old = self.decode(res, kv)
        want_rv = new["metadata"].get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict(
                res.plural,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
                res.group,
            )
        return self._as_view(view, await self._update(res, key, kv, old, new, subresource, dry_run))

    async def _update(
        self, res: Resource, key: str, kv: KV, old: dict, new: dict, subresource: str, dry_run: bool
    ) -> dict[str, Any]:
        """Merge what the caller may change into `old`, validate, and compare-and-swap."""
        meta, old_meta = new["metadata"], old["metadata"]
        if subresource == "status":
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status")
            if merged["status"] is None:
                merged.pop("status")
            new = merged
        elif subresource == "finalize":  # namespaces: only spec.finalizers changes
            merged = copy.deepcopy(old)
            merged.setdefault("spec", {})["finalizers"] = (new.get("spec") or {}).get("finalizers") or []
            new = merged
        else:
            for k in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
            ):
                if k in old_meta:
                    meta[k] = old_meta[k]
                else:
                    meta.pop(k, None)
            meta.pop("managedFields", None)
            if res.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            if res.plural == "services" and not (new.get("spec") or {}).get("clusterIP"):
                # Leaving clusterIP out of an update keeps the allocated one (it is immutable).
                for k in ("clusterIP", "clusterIPs"):
                    if k in (old.get("spec") or {}):
                        new.setdefault("spec", {})[k] = old["spec"][k]
            if res.plural == "services":
                _drop_type_dependent_fields(new, old)
            apply_defaults(res.plural, new)
            validate_update(res, new, old)
            if res.plural == "services":
                async with self._service_lock:
                    others = [
                        s
                        for s in await self._all_services()
                        if s["metadata"]["name"] != old_meta["name"]
                        or s["metadata"].get("namespace") != old_meta.get("namespace")
                    ]
                    if dry_run:
                        self.allocator.assign(new, others, old)
                    else:
                        claimed = await self.claims.allocate(new, others, old, key)
                        try:
                            return await self._write_update(res, key, kv, old, new, dry_run)
                        except BaseException:
                            await self.claims.release(claimed, key)
                            raise
        return await self._write_update(res, key, kv, old, new, dry_run)

    async def _write_update(
        self, res: Resource, key: str, kv: KV, old: dict, new: dict, dry_run: bool
    ) -> dict:
        old_meta = old["metadata"]
        if new.get("spec") != old.get("spec") and "generation" in new["metadata"]:
            new["metadata"]["generation"] = int(new["metadata"]["generation"]) + 1
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        try:
            if self._finished(res, new):
                return await self._remove(res, key, kv, new, dry_run)
        except RevisionMismatch:
            raise conflict(
                res.plural,
                old_meta["name"],
                "the object has been modified; please apply your changes to the latest version and try again",
                res.group,
            ) from None
        if self.encode(key, new) == self.encode(key, old) or dry_run:
            return new  # a no-op update does not bump resourceVersion (controllers rely on it)
        try:
            rev = await self.backend.update(key, self.encode(key, new), kv.mod_revision)
        except RevisionMismatch:
            raise conflict(
                res.plural,
                old_meta["name"],
                "the object has been modified; please apply your changes to the latest version and try again",
                res.group,
            ) from None
        except KeyNotFound:
            raise not_found(res.plural, old_meta["name"], res.group) from None
        new["metadata"]["resourceVersion"] = str(rev)
        if res.plural == "services":
            # A type change may have given up NodePorts: free their claims.
            await self.claims.release(Claims.keys_of(old) - Claims.keys_of(new), key)
        return self._view(res, new)

    def _view(self, res: Resource, obj: dict) -> dict:
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        return obj

    @staticmethod
    def _finished(res: Resource, obj: dict) -> bool:
        """A deleting object goes away once no finalizer holds it and no grace period is pending."""
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if res.plural == "namespaces" and (obj.get("spec") or {}).get("finalizers"):
            return False
        return not meta.get("deletionGracePeriodSeconds")

    # ------------------------------------------------------------------ patch
    async def patch(
        self,
        res: Resource,
        ns: str | None,
        name: str,
        body: bytes,
        content_type: str,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str | None = None,
    ) -> dict[str, Any]:
        kind = PATCH_TYPES.get(content_type.split(";")[0].strip())
        if kind is None:
            raise ApiError(
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted "
                f"media types include: {', '.join(PATCH_TYPES)}",
            )
        if kind == "apply":
            import yaml

            try:
                doc = yaml.safe_load(body)
            except yaml.YAMLError as e:
                raise bad_request(f"error decoding YAML: {e}") from None
        else:
            try:
                doc = json.loads(body or b"null")
            except ValueError as e:
                raise bad_request(f"error decoding patch: {e}") from None
        for _attempt in range(8):
            try:
                if subresource == "scale":
                    current = await self.get_scale(res, ns, name)
                else:
                    current = await self.get(res, ns, name)
            except ApiError as e:
                # Server-side apply creates what does not exist yet.
                if kind != "apply" or subresource or e.reason != "NotFound" or not isinstance(doc, dict):
                    raise
                doc.setdefault("metadata", {})["name"] = name
                return await self.create(res, ns, doc, dry_run, field_validation)
            try:
                if kind == "merge" or kind == "apply":
                    if not isinstance(doc, dict):
                        raise patches.PatchError("a merge patch must be a JSON object")
                    patched = patches.merge_patch(current, doc)
                elif kind == "json":
                    patched = patches.json_patch(current, doc)
                else:
                    patched = patches.strategic_merge_patch(current, doc)
            except patches.PatchError as e:
                raise ApiError(
                    "UnprocessableEntity" if kind == "json" else "BadRequest",
                    str(e),
                    code=422 if kind == "json" else 400,
                ) from None
            if not isinstance(patched, dict):
                raise bad_request("the patch must produce an object")
            # Without a resourceVersion in the patch, a patch is "apply to the latest": retry on conflict.
            pinned = isinstance(doc, dict) and (doc.get("metadata") or {}).get("resourceVersion")
            try:
                if subresource == "scale":
                    return await self.update_scale(res, ns, name, patched, dry_run)
                return await self.update(res, ns, name, patched, subresource, dry_run, field_validation)
            except ApiError as e:
                if e.reason != "Conflict" or pinned:
                    raise
        raise conflict(res.plural, name, "too many concurrent writers", res.group)

    # ------------------------------------------------------------------ delete
    async def delete(
        self,
        res: Resource,
        ns: str | None,
        name: str,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        options = options or {}
        res, _ = self._to_storage_shape(res, {"metadata": {}})
        key = res.key(ns, name)
        for _attempt in range(8):
            kv = await self.backend.get(key)
            if kv is None:
                raise not_found(res.plural, name, res.group)
            obj = self.decode(res, kv)
            try:
                return await self._delete(res, key, kv, obj, options, dry_run)
            except RevisionMismatch:
                continue
        raise conflict(res.plural, name, "too many concurrent writers", res.group)

    async def _delete(self, res: Resource, key: str, kv: KV, obj: dict, options: dict, dry_run: bool) -> dict:
        meta = obj["metadata"]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise conflict(
                res.plural,
                meta["name"],
                f"Precondition failed: UID in precondition: {pre['uid']}, "
                f"UID in object meta: {meta.get('uid')}",
                res.group,
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise conflict(
                res.plural,
                meta["name"],
                "Precondition failed: ResourceVersion in precondition: "
                f"{pre['resourceVersion']}, ResourceVersion in object meta: {meta['resourceVersion']}",
                res.group,
            )
        grace = self._grace_period(res, obj, options.get("gracePeriodSeconds"))
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise ApiError("Invalid", f"propagationPolicy: Unsupported value: {policy!r}")
        new = copy.deepcopy(obj)
        nmeta = new["metadata"]
        finalizers = list(nmeta.get("finalizers") or [])
        # The garbage collector reads these finalizers to orphan or delete dependents first.
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if policy in ("Background", "Foreground") and "orphan" in finalizers:
            finalizers.remove("orphan")  # an explicit cascading delete overrides an earlier orphaning one
        if res.plural == "namespaces":
            new.setdefault("status", {})["phase"] = "Terminating"
        if finalizers:
            nmeta["finalizers"] = finalizers
        if not nmeta.get("deletionTimestamp"):
            holds = finalizers or (res.plural == "namespaces" and (new.get("spec") or {}).get("finalizers"))
            if not holds and grace == 0:
                return await self._remove(res, key, kv, new, dry_run)
            # Graceful: mark it; the kubelet (pods), a controller (finalizers) or the namespace
            # controller (spec.finalizers) finishes the job.
            nmeta["deletionTimestamp"] = later(grace)
            nmeta["deletionGracePeriodSeconds"] = grace
            if "generation" in nmeta:
                nmeta["generation"] = int(nmeta["generation"]) + 1
        elif grace < (nmeta.get("deletionGracePeriodSeconds") or 0):
            # Already deleting: a second delete may only shorten the grace period.
            nmeta["deletionGracePeriodSeconds"] = grace
            nmeta["deletionTimestamp"] = later(grace)
        if self._finished(res, new):
            return await self._remove(res, key, kv, new, dry_run)
        if new == obj or dry_run:
            return new
        rev = await self.backend.update(key, self.encode(key, new), kv.mod_revision)
        nmeta["resourceVersion"] = str(rev)
        return new

    async def _remove(self, res: Resource, key: str, kv: KV, obj: dict, dry_run: bool) -> dict:
        if dry_run:
            return obj
        try:
            rev, _ = await self.backend.delete(key, kv.mod_revision)
        except KeyNotFound:
            raise not_found(res.plural, obj["metadata"]["name"], res.group) from None
        if res.plural == "services":
            await self.claims.release(Claims.keys_of(obj), key)
        obj["metadata"]["resourceVersion"] = str(rev)
        return self._view(res, obj)

    @staticmethod
    def _grace_period(res: Resource, obj: dict, requested: Any) -> int:
        if res.plural != "pods":
            return 0
        if requested is not None:
            try:
                grace = int(requested)
            except (TypeError, ValueError):
                raise bad_request(f"gracePeriodSeconds: invalid value {requested!r}") from None
        else:
            grace = int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
        # A pod no kubelet runs (unscheduled or already finished) has nothing to wait for.
        if not (obj.get("spec") or {}).get("nodeName"):
            return 0
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        return max(grace, 0)

    async def delete_collection(
        self,
        res: Resource,
        ns: str | None,
        label: LabelSelector,
        field: FieldSelector,
        options: dict[str, Any] | None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        listed = await self.list(res, ns, label, field)
        deleted = []
        for item in listed["items"]:
            try:
                deleted.append(
                    await self.delete(
                        res, item["metadata"].get("namespace"), item["metadata"]["name"], options, dry_run
                    )
                )
            except ApiError as e:
                if e.reason != "NotFound":
                    raise
        listed["items"] = deleted
        return listed

    # ------------------------------------------------------------------ subresources
    async def evict(self, ns: str, name: str, eviction: Any) -> dict[str, Any]:
        """POST pods/NAME/eviction (kubectl drain): a delete carrying the eviction's DeleteOptions."""
        options = (eviction or {}).get("deleteOptions") or {} if isinstance(eviction, dict) else {}
        await self.delete(lookup("pods"), ns, name, options)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    async def bind(self, ns: str, name: str, binding: Any) -> dict[str, Any]:
        """POST pods/NAME/binding: the scheduler's one write. Sets spec.nodeName exactly once."""
        if not isinstance(binding, dict) or not (binding.get("target") or {}).get("name"):
            raise ApiError(
                "Invalid",
                "Binding is invalid: target.name: Required value",
                details={
                    "kind": "Binding",
                    "name": name,
                    "causes": [
                        {"reason": "FieldValueRequired", "message": "Required value", "field": "target.name"}
                    ],
                },
            )
        node = binding["target"]["name"]
        res = lookup("pods")
        key = res.key(ns, name)
        for _attempt in range(8):
            kv = await self.backend.get(key)
            if kv is None:
                raise not_found("pods", name)
            pod = self.decode(res, kv)
            if pod["metadata"].get("deletionTimestamp"):
                raise conflict("pods", name, "pod is being deleted, cannot be assigned to a host")
            if pod["spec"].get("nodeName"):
                raise conflict(
                    "pods", name, f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"'
                )
            pod["spec"]["nodeName"] = node
            conds = [
                c
                for c in pod.setdefault("status", {}).get("conditions") or []
                if c.get("type") != "PodScheduled"
            ]
            conds.append(
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now()}
            )
            pod["status"]["conditions"] = conds
            try:
                await self.backend.update(key, self.encode(key, pod), kv.mod_revision)
            except RevisionMismatch:
                continue
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        raise conflict("pods", name, "too many concurrent writers")

    async def get_scale(self, res: Resource, ns: str | None, name: str) -> dict[str, Any]:
        obj = await self.get(res, ns, name)
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": selector_string(obj["spec"].get("selector")),
            },
        }

    async def update_scale(
        self, res: Resource, ns: str | None, name: str, scale: Any, dry_run: bool = False
    ) -> dict[str, Any]:
        if not isinstance(scale, dict):
            raise bad_request("the body must be a Scale object")
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiError(
                "Invalid",
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                f"{replicas!r}: must be greater than or equal to 0",
                details={
                    "name": name,
                    "group": "autoscaling",
                    "kind": "Scale",
                    "causes": [
                        {
                            "reason": "FieldValueInvalid",
                            "field": "spec.replicas",
                            "message": "must be greater than or equal to 0",
                        }
                    ],
                },
            )
        obj = await self.get(res, ns, name)
        want_rv = (scale.get("metadata") or {}).get("resourceVersion")
        if want_rv and want_rv != obj["metadata"]["resourceVersion"]:
            raise conflict(
                res.plural,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
                res.group,
            )
        obj["spec"]["replicas"] = replicas
        await self.update(res, ns, name, obj, dry_run=dry_run)
        return await self.get_scale(res, ns, name) if not dry_run else {**scale}

    # ------------------------------------------------------------------ watch
    async def watch(
        self,
        res: Resource,
        ns: str | None,
        resource_version: str,
        label: LabelSelector,
        field: FieldSelector,
        progress_interval: float | None = None,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yields (type, object): ADDED/MODIFIED/DELETED as seen through the selectors, and
        ("BOOKMARK", {...resourceVersion}) when idle and asked for progress."""
        sres, _ = self._to_storage_shape(res, {"metadata": {}})
        if resource_version in ("", "0"):
            # No starting point: begin with the current state as synthetic ADDED events.
            listed = await self.list(res, ns, label, field)
            for item in listed["items"]:
                yield "ADDED", item
            start = int(listed["metadata"]["resourceVersion"])
        else:
            try:
                start = int(resource_version)
            except ValueError:
                raise bad_request(f"invalid resourceVersion {resource_version!r}") from None
        stream = self.backend.watch(sres.key_prefix(ns), start, progress_interval)
        try:
            async for ev in stream:
                if ev.type == "PROGRESS":
                    yield (
                        "BOOKMARK",
                        {
                            "kind": res.kind,
                            "apiVersion": res.api_version,
                            "metadata": {"resourceVersion": str(ev.revision)},
                        },
                    )
                    continue
                new = self.decode(res, ev.kv) if ev.kv else None
                old = self.decode(res, ev.prev, ev.revision) if ev.prev else None
                new_ok = (
                    new is not None and label.matches(new["metadata"].get("labels")) and field.matches(new)
                )
                old_ok = (
                    old is not None and label.matches(old["metadata"].get("labels")) and field.matches(old)
                )
                if ev.type == "DELETE":
                    if old_ok and old is not None:
                        yield "DELETED", old
                elif new_ok and old_ok:
                    yield "MODIFIED", new  # type: ignore[misc]
                elif new_ok:
                    yield "ADDED", new  # type: ignore[misc]
                elif old_ok and new is not None:
                    yield "DELETED", new  # it left the selection
        except Compacted as e:
            raise gone(f"too old resource version: {resource_version} ({e.compact_revision})") from None
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ bootstrap
    async def expire_events(self, ttl_seconds: int) -> int:
        """Delete Events older than the TTL (the real apiserver gives them a 1 h etcd lease)."""
        from .objects.meta import parse_time

        res = lookup("events")
        kvs, _, _ = await self.backend.list(res.key_prefix(None))
        cutoff = time.time() - ttl_seconds
        removed = 0
        for kv in kvs:
            ev = self.decode(res, kv)
            stamp = ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
            try:
                old = parse_time(stamp).timestamp() < cutoff
            except (TypeError, ValueError):
                old = False
            if old:
                try:
                    await self.backend.delete(kv.key, kv.mod_revision)
                    removed += 1
                except (KeyNotFound, RevisionMismatch):
                    pass  # changed meanwhile: it lives on until the next sweep
        return removed

    async def ensure_system_objects(self, advertise: tuple[str, int] | None = None) -> None:
        """The namespaces every cluster has, and the `kubernetes` Service at the first service IP.

        With an advertised address (one pods can reach), the Service's Endpoints point at it,
        as the real apiserver keeps them (there is no selector for the endpoints controller)."""
        nsres = lookup("namespaces")
        for name in SYSTEM_NAMESPACES:
            if await self.backend.get(nsres.key(None, name)) is None:
                try:
                    await self.create(nsres, None, {"metadata": {"name": name}})
                except ApiError as e:
                    if e.reason != "AlreadyExists":
                        raise
        svc = lookup("services")
        if await self.backend.get(svc.key("default", "kubernetes")) is None:
            try:
                await self.create(
                    svc,
                    "default",
                    {
                        "metadata": {
                            "name": "kubernetes",
                            "labels": {"component": "apiserver", "provider": "kubernetes"},
                        },
                        "spec": {
                            "clusterIP": self.allocator.kubernetes_ip,
                            "ports": [
                                {
                                    "name": "https",
                                    "port": 443,
                                    "targetPort": advertise[1] if advertise else 6443,
                                }
                            ],
                        },
                    },
                )
            except ApiError as e:
                if e.reason != "AlreadyExists":
                    raise
        if advertise:
            ep = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "namespace": "default"},
                "subsets": [
                    {
                        "addresses": [{"ip": advertise[0]}],
                        "ports": [{"name": "https", "port": advertise[1], "protocol": "TCP"}],
                    }
                ],
            }
            epres = lookup("endpoints")
            try:
                current = await self.get(epres, "default", "kubernetes")
                await self.update(epres, "default", "kubernetes", {**current, "subsets": ep["subsets"]})
            except ApiError as e:
                if e.reason != "NotFound":
                    raise
                await self.create(epres, "default", ep)
