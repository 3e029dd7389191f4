"""The control side: watch Ingresses, IngressClasses, Services and Endpoints; keep the route table
current; write each served Ingress's address into its status.

Informer handlers only set a flag; one sync thread rebuilds the whole RouteTable from the caches
(a few dicts: cheaper and simpler than patching it) and swaps it in with one assignment, so the
HTTP thread always reads a complete table, old or new, never a half-built one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from minikube_py.api.errors import ApiError
from minikube_py.api.informer import Informer
from minikube_py.k8s.meta import now_rfc3339
from minikube_py.network.ingress.routing import CONTROLLER, DEFAULT_CLASS_ANNOTATION, RouteTable, is_ours
from minikube_py.network.ingress.tls import CertStore

log = logging.getLogger("mkpy.ingress")


def default_class(name: str = "mkpy", controller: str = CONTROLLER) -> dict:
    """The IngressClass `mkpy up` makes: ours, and the default for Ingresses that name no class."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "spec": {"controller": controller},
    }


def ensure_class(client: Any, obj: dict) -> bool:
    """Create the IngressClass unless one of that name exists (the user's wins). True if created."""
    try:
        client.create(obj)
        return True
    except ApiError as exc:
        if exc.code != 409:
            raise
        return False


class IngressController:
    def __init__(self, client: Any, address: str, controller: str = CONTROLLER,
                 certs: CertStore | None = None) -> None:
        self.client, self.address, self.controller, self.certs = client, address, controller, certs
        kinds = ["ingresses", "ingressclasses", "services", "endpoints"] + (["secrets"] if certs else [])
        self.informers = {
            r: Informer(client, r, on_add=self._dirty, on_update=self._changed, on_delete=self._dirty)
            for r in kinds
        }
        self.table = RouteTable()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    # what the HTTP side reads
    def current(self) -> RouteTable:
        return self.table

    def service(self, namespace: str, name: str) -> dict | None:
        return self.informers["services"].get(name, namespace)

    def endpoints(self, namespace: str, name: str) -> dict | None:
        return self.informers["endpoints"].get(name, namespace)

    # --------------------------------------------------------------- informers -> sync
    def _dirty(self, obj: dict) -> None:
        # Services/Endpoints are read live per request; only Ingress(Class) changes and TLS
        # Secrets (a renewed certificate) need a rebuild.
        if obj.get("kind") in ("Ingress", "IngressClass") or obj.get("type") == "kubernetes.io/tls":
            self._wake.set()

    def _changed(self, old: dict, new: dict) -> None:
        self._dirty(new)

    def start(self, sync_timeout: float = 30.0) -> IngressController:
        for inf in self.informers.values():
            inf.start()
        if not all(inf.wait_for_sync(sync_timeout) for inf in self.informers.values()):
            self.stop()
            raise TimeoutError("could not list Ingresses, IngressClasses, Services and Endpoints")
        self.sync()
        self._thread = threading.Thread(target=self._loop, name="mkpy-ingress-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        for inf in self.informers.values():
            inf.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.sync()
            except Exception as exc:  # noqa: BLE001 - the API may be restarting: try again later
                log.warning("ingress sync failed: %s", exc)
                self.errors.append(str(exc))
                self._stop.wait(1.0)
                self._wake.set()

    def served(self) -> list[dict]:
        classes = self.informers["ingressclasses"].list()
        return [i for i in self.informers["ingresses"].list() if is_ours(i, classes, self.controller)]

    def sync(self) -> None:
        """Rebuild the table; set (or take back) status.loadBalancer on each Ingress."""
        served = self.served()
        table = RouteTable.build(served)
        routes = sum(len(v) for v in table.exact_hosts.values()) + len(table.any_host) + sum(
            len(v) for v in table.wildcard_hosts.values())
        self.table = table
        if self.certs is not None:
            secrets = self.informers["secrets"]
            self.certs.update(sorted(served, key=lambda i: i["metadata"].get("creationTimestamp") or ""),
                              lambda ns, name: secrets.get(name, ns))
        keys = sorted(f"{i['metadata'].get('namespace')}/{i['metadata']['name']}" for i in served)
        log.info("serving %d ingress(es), %d route(s): %s", len(served), routes, ", ".join(keys) or "-")
        mine = {id(i) for i in served}
        for ing in self.informers["ingresses"].list():
            have = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if id(ing) in mine:
                want = [{"ip": self.address}]
            elif have == [{"ip": self.address}]:
                want = []  # it moved to another class: our address no longer applies
            else:
                continue
            if have != want:
                meta = ing["metadata"]
                self.client.patch("ingresses", meta["name"], {"status": {"loadBalancer": {"ingress": want}}},
                                  meta.get("namespace"), subresource="status")
                log.info("ingress %s/%s: status address %s", meta.get("namespace"), meta["name"],
                         want[0]["ip"] if want else "<none>")
                self.event(ing, f"Serving on {self.address}:80" if want else
                           f"No longer served by {self.controller}")

    def event(self, ing: dict, message: str) -> None:
        """One Normal/Sync Event on the Ingress (ingress-nginx's reason), for `kubectl describe
        ingress`. Written only when the address changes, so no deduplication is needed."""
        meta, now = ing["metadata"], now_rfc3339(time.time())
        ns = meta.get("namespace") or "default"
        try:
            self.client.create({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": ns},
                "involvedObject": {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "namespace": ns,
                                   "name": meta["name"], "uid": meta.get("uid")},
                "reason": "Sync", "message": message, "type": "Normal", "count": 1,
                "source": {"component": "mkpy-ingress"}, "firstTimestamp": now, "lastTimestamp": now,
            })
        except ApiError as exc:  # best effort, like every event recorder
            log.warning("event for ingress %s/%s not recorded: %s", ns, meta["name"], exc)
