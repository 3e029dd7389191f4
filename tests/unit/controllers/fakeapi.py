"""An in-memory API server with the client interface of minikube_py.controllers.client.

For unit tests of the loops only: resourceVersions, uids, generation bumps on spec
changes, optimistic concurrency, finalizers and deletionTimestamp, the pods/binding and
status subresources, and watches with history (and 410 Gone after compact()).
"""

from __future__ import annotations

import copy
import itertools
import queue
import threading
import time
import uuid
from typing import Any

from minikube_py.controllers.client import RESOURCES
from minikube_py.k8s.meta import now_rfc3339

Obj = dict[str, Any]


class FakeApiError(Exception):
    def __init__(self, code: int, reason: str, message: str = "") -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message = code, reason, message


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class FakeWatch:
    def __init__(self, api: FakeApi, resource: str, namespace: str | None) -> None:
        self.api, self.resource, self.namespace = api, resource, namespace
        self.q: queue.Queue = queue.Queue()
        self.closed = False

    def matches(self, resource: str, obj: Obj) -> bool:
        return resource == self.resource and (
            self.namespace is None or obj["metadata"].get("namespace") == self.namespace
        )

    def close(self) -> None:
        self.closed = True
        self.q.put(None)

    def __iter__(self):
        while True:
            ev = self.q.get()
            if ev is None or self.closed:
                return
            yield ev


class FakeApi:
    def __init__(self, *, graceful_pods: bool = False, clock=time.time) -> None:
        self.lock = threading.RLock()
        self.objects: dict[tuple[str, str | None, str], Obj] = {}
        self.rv = itertools.count(1)
        self.last_rv = 0
        self.history: list[tuple[int, str, str, Obj]] = []  # (rv, resource, type, obj)
        self.compacted = 0
        self.watches: list[FakeWatch] = []
        self.calls: list[tuple] = []
        self.failures: list[tuple[str, str, int, str]] = []
        self.graceful_pods = graceful_pods
        self.clock = clock

    # ------------------------------------------------------------ helpers
    def fail_next(self, verb: str, resource: str, code: int = 500, reason: str = "InternalError") -> None:
        self.failures.append((verb, resource, code, reason))

    def _check_fail(self, verb: str, resource: str) -> None:
        for f in self.failures:
            if f[0] == verb and f[1] == resource:
                self.failures.remove(f)
                raise FakeApiError(f[2], f[3], "injected")

    def _next_rv(self) -> str:
        self.last_rv = next(self.rv)
        return str(self.last_rv)

    def _emit(self, resource: str, etype: str, obj: Obj) -> None:
        snap = copy.deepcopy(obj)
        self.history.append((int(obj["metadata"]["resourceVersion"]), resource, etype, snap))
        for w in list(self.watches):
            if not w.closed and w.matches(resource, snap):
                w.q.put({"type": etype, "object": copy.deepcopy(snap)})

    def compact(self) -> None:
        """Forget history: a watch from an older resourceVersion gets 410 Gone."""
        with self.lock:
            self.compacted = self.last_rv
            self.history.clear()
            for w in list(self.watches):
                w.q.put(
                    {
                        "type": "ERROR",
                        "object": {
                            "kind": "Status",
                            "code": 410,
                            "reason": "Expired",
                            "message": "too old resource version",
                        },
                    }
                )

    def _key(self, resource: str, namespace: str | None, name: str) -> tuple:
        if resource not in RESOURCES:
            raise FakeApiError(
                404, "NotFound", f"the server could not find the requested resource {resource}"
            )
        return (resource, namespace if RESOURCES[resource][2] else None, name)

    def _not_found(self, resource: str, name: str) -> FakeApiError:
        return FakeApiError(404, "NotFound", f'{resource} "{name}" not found')

    # ------------------------------------------------------------ verbs
    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj:
        with self.lock:
            self.calls.append(("get", resource, namespace, name))
            self._check_fail("get", resource)
            obj = self.objects.get(self._key(resource, namespace, name))
            if obj is None:
                raise self._not_found(resource, name)
            return copy.deepcopy(obj)

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        with self.lock:
            self.calls.append(("list", resource, namespace))
            self._check_fail("list", resource)
            items = [
                copy.deepcopy(o)
                for (r, ns, _), o in sorted(
                    self.objects.items(), key=lambda kv: kv[0][1:] if kv[0][1] else ("", kv[0][2])
                )
                if r == resource and (namespace is None or ns == namespace)
            ]
            if label_selector:
                reqs = dict(p.split("=", 1) for p in label_selector.split(","))
                items = [
                    o
                    for o in items
                    if all((o["metadata"].get("labels") or {}).get(k) == v for k, v in reqs.items())
                ]
            if field_selector:
                for p in field_selector.split(","):
                    path, _, want = p.partition("=")
                    items = [o for o in items if _field(o, path) == want]
            for o in items:
                o.pop("kind", None)
                o.pop("apiVersion", None)
            return {
                "kind": RESOURCES[resource][1] + "List",
                "apiVersion": RESOURCES[resource][0],
                "metadata": {"resourceVersion": str(self.last_rv)},
                "items": items,
            }

    def create(
        self,
        resource: str,
        obj: Obj,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        name: str | None = None,
    ) -> Obj:
        with self.lock:
            self.calls.append(
                ("create", resource, namespace, (obj.get("metadata") or {}).get("name"), subresource)
            )
            self._check_fail("create", resource)
            if subresource == "binding":
                pod = self.objects.get(self._key("pods", namespace, name or obj["metadata"]["name"]))
                if pod is None:
                    raise self._not_found("pods", name or "")
                if pod["spec"].get("nodeName"):
                    raise FakeApiError(
                        409, "Conflict", f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"'
                    )
                pod["spec"]["nodeName"] = obj["target"]["name"]
                conds = [
                    c
                    for c in pod.setdefault("status", {}).get("conditions") or []
                    if c["type"] != "PodScheduled"
                ]
                conds.append({"type": "PodScheduled", "status": "True"})
                pod["status"]["conditions"] = conds
                pod["metadata"]["resourceVersion"] = self._next_rv()
                self._emit("pods", "MODIFIED", pod)
                return {"kind": "Status", "status": "Success"}
            obj = copy.deepcopy(obj)
            md = obj.setdefault("metadata", {})
            ns = namespace or md.get("namespace")
            if RESOURCES[resource][2]:
                if not ns:
                    raise FakeApiError(400, "BadRequest", "namespace required")
                md["namespace"] = ns
                nsobj = self.objects.get(("namespaces", None, ns))
                if nsobj is not None and nsobj["metadata"].get("deletionTimestamp"):
                    raise FakeApiError(403, "Forbidden", f"namespace {ns} is being terminated")
            if not md.get("name") and md.get("generateName"):
                md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
            key = self._key(resource, ns, md.get("name", ""))
            if key in self.objects:
                raise FakeApiError(409, "AlreadyExists", f'{resource} "{md["name"]}" already exists')
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_rfc3339(self.clock())
            md["resourceVersion"] = self._next_rv()
            md["generation"] = 1
            obj["apiVersion"], obj["kind"] = RESOURCES[resource][0], RESOURCES[resource][1]
            if resource == "namespaces":
                obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
                obj.setdefault("status", {})["phase"] = "Active"
            if resource == "pods":
                obj.setdefault("status", {}).setdefault("phase", "Pending")
            self.objects[key] = obj
            self._emit(resource, "ADDED", obj)
            return copy.deepcopy(obj)

    def _write(self, resource: str, key: tuple, new: Obj, subresource: str | None) -> Obj:
        old = self.objects[key]
        if subresource == "status":
            merged = copy.deepcopy(old)
            merged["status"] = copy.deepcopy(new.get("status"))
            if resource == "namespaces":
                pass
            new = merged
        elif subresource == "finalize":
            merged = copy.deepcopy(old)
            merged.setdefault("spec", {})["finalizers"] = list(
                (new.get("spec") or {}).get("finalizers") or []
            )
            new = merged
        else:
            new = copy.deepcopy(new)
            new["status"] = copy.deepcopy(old.get("status")) if "status" in old else new.get("status")
            if new.get("status") is None:
                new.pop("status", None)
        md = new["metadata"]
        for f in ("uid", "creationTimestamp", "namespace", "name"):
            if f in old["metadata"]:
                md[f] = old["metadata"][f]
        md["deletionTimestamp"] = old["metadata"].get("deletionTimestamp")
        if md["deletionTimestamp"] is None:
            md.pop("deletionTimestamp")
        md["generation"] = old["metadata"].get("generation", 1) + (
            1 if new.get("spec") != old.get("spec") else 0
        )
        if new == old:
            return copy.deepcopy(old)
        md["resourceVersion"] = self._next_rv()
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        if (
            md.get("deletionTimestamp")
            and not md.get("finalizers")
            and not (resource == "namespaces" and (new.get("spec") or {}).get("finalizers"))
        ):
            del self.objects[key]
            self._emit(resource, "DELETED", new)
            return copy.deepcopy(new)
        self.objects[key] = new
        self._emit(resource, "MODIFIED", new)
        return copy.deepcopy(new)

    def update(
        self, resource: str, obj: Obj, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        with self.lock:
            name = obj["metadata"]["name"]
            ns = namespace or obj["metadata"].get("namespace")
            self.calls.append(("update", resource, ns, name, subresource))
            self._check_fail("update", resource)
            key = self._key(resource, ns, name)
            old = self.objects.get(key)
            if old is None:
                raise self._not_found(resource, name)
            rv = obj["metadata"].get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise FakeApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource} "{name}": '
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again",
                )
            return self._write(resource, key, obj, subresource)

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
        with self.lock:
            self.calls.append(("patch", resource, namespace, name, subresource))
            self._check_fail("patch", resource)
            key = self._key(resource, namespace, name)
            old = self.objects.get(key)
            if old is None:
                raise self._not_found(resource, name)
            rv = (patch.get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise FakeApiError(409, "Conflict", "the object has been modified")
            new = merge_patch(old, patch)
            if subresource != "status" and "status" in patch:
                new["status"] = copy.deepcopy(old.get("status"))
            if subresource == "status":
                return self._write(resource, key, new, "status")
            return self._write(resource, key, new, None)

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
        with self.lock:
            self.calls.append(("delete", resource, namespace, name, propagation_policy))
            self._check_fail("delete", resource)
            key = self._key(resource, namespace, name)
            obj = self.objects.get(key)
            if obj is None:
                raise self._not_found(resource, name)
            if uid and obj["metadata"]["uid"] != uid:
                raise FakeApiError(409, "Conflict", "Precondition failed: UID in precondition")
            md = obj["metadata"]
            finalizers = list(md.get("finalizers") or [])
            if propagation_policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            if propagation_policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            graceful = (
                resource == "pods"
                and self.graceful_pods
                and obj["spec"].get("nodeName")
                and grace_period_seconds != 0
            )
            keep = finalizers or graceful or (resource == "namespaces")
            if keep:
                changed = False
                if not md.get("deletionTimestamp"):
                    md["deletionTimestamp"] = now_rfc3339(self.clock())
                    changed = True
                if finalizers != list(md.get("finalizers") or []):
                    md["finalizers"] = finalizers
                    changed = True
                if resource == "namespaces" and obj["status"].get("phase") != "Terminating":
                    obj["status"]["phase"] = "Terminating"
                    changed = True
                if resource == "namespaces" and not obj["spec"].get("finalizers") and not finalizers:
                    del self.objects[key]
                    md["resourceVersion"] = self._next_rv()
                    self._emit(resource, "DELETED", obj)
                    return copy.deepcopy(obj)
                if changed:
                    md["resourceVersion"] = self._next_rv()
                    self._emit(resource, "MODIFIED", obj)
                return copy.deepcopy(obj)
            del self.objects[key]
            md["resourceVersion"] = self._next_rv()
            self._emit(resource, "DELETED", obj)
            return copy.deepcopy(obj)

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
    ) -> FakeWatch:
        with self.lock:
            self.calls.append(("watch", resource, namespace, resource_version))
            if resource_version and int(resource_version) < self.compacted:
                raise FakeApiError(410, "Expired", "too old resource version")
            w = FakeWatch(self, resource, namespace)
            if resource_version:
                for rv, r, etype, obj in self.history:
                    if rv > int(resource_version) and w.matches(r, obj):
                        w.q.put({"type": etype, "object": copy.deepcopy(obj)})
            self.watches.append(w)
            return w

    # ------------------------------------------------------------ test conveniences
    def objs(self, resource: str, namespace: str | None = None) -> list[Obj]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (r, ns, _), o in self.objects.items()
                if r == resource and (namespace is None or ns == namespace)
            ]

    def set_pod_ready(
        self, namespace: str, name: str, ready: bool = True, ip: str | None = None, when: float | None = None
    ) -> Obj:
        with self.lock:
            pod = self.objects[("pods", namespace, name)]
            status = copy.deepcopy(pod.get("status") or {})
            status["phase"] = "Running"
            if ip:
                status["podIP"] = ip
            t = now_rfc3339(when if when is not None else self.clock())
            conds = [c for c in status.get("conditions") or [] if c["type"] != "Ready"]
            conds.append({"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": t})
            status["conditions"] = conds
            return self._write("pods", ("pods", namespace, name), {**pod, "status": status}, "status")


def _field(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = (cur or {}).get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)
