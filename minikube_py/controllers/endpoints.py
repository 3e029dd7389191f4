"""Endpoints controller: a Service's selector, resolved to pod IPs and ports (endpoints_controller.go).

For each Service with a selector, the Endpoints object of the same name lists, for every
pod the selector matches and that has an IP:
- in `addresses` if the pod is Ready (or the Service publishes not-ready addresses),
  otherwise in `notReadyAddresses` — the service proxy sends traffic to the first only;
- with the Service's ports resolved against the pod: a numeric targetPort as is, a named
  targetPort looked up in the pod's container ports (a pod without that name is left out
  for that port).
Addresses with the same resolved ports share one subset (RepackSubsets).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from minikube_py.k8s.meta import (
    is_deleting,
    key_of,
    labels_of,
    name_of,
    namespace_of,
    now_rfc3339,
    split_key,
)
from minikube_py.k8s.selectors import map_selector_matches

from .client import is_already_exists, is_not_found
from .framework import Controller
from .podutil import is_ready, is_terminal

log = logging.getLogger(__name__)
Obj = dict[str, Any]
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"


def resolve_port(svc_port: dict, pod: Obj) -> int | None:
    """FindPort: the container port a Service port's targetPort means for this pod."""
    target = svc_port.get("targetPort")
    if target is None:
        return int(svc_port["port"])
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    proto = svc_port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == proto:
                return int(p["containerPort"])
    return None


def address_of(pod: Obj) -> dict:
    st, spec, md = pod.get("status") or {}, pod.get("spec") or {}, pod.get("metadata") or {}
    addr: dict[str, Any] = {"ip": st.get("podIP")}
    if spec.get("nodeName"):
        addr["nodeName"] = spec["nodeName"]
    addr["targetRef"] = {
        "kind": "Pod",
        "namespace": md.get("namespace"),
        "name": md.get("name"),
        "uid": md.get("uid"),
    }
    return addr


def build_subsets(svc: Obj, pods: list[Obj]) -> list[dict]:
    spec = svc.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    # ports tuple -> (ready addresses, not-ready addresses)
    groups: dict[tuple, tuple[list, list]] = {}
    for pod in pods:
        if not (pod.get("status") or {}).get("podIP") or is_terminal(pod) or is_deleting(pod):
            continue
        addr = address_of(pod)
        if (
            spec.get("clusterIP") == "None"
            and (pod.get("spec") or {}).get("hostname")
            and (pod.get("spec") or {}).get("subdomain") == name_of(svc)
        ):
            addr["hostname"] = pod["spec"]["hostname"]
        ports = []
        for sp in spec.get("ports") or []:
            number = resolve_port(sp, pod)
            if number is None:
                continue
            port = {"port": number, "protocol": sp.get("protocol") or "TCP"}
            if sp.get("name"):
                port["name"] = sp["name"]
            if sp.get("appProtocol"):
                port["appProtocol"] = sp["appProtocol"]
            ports.append(port)
        if spec.get("ports") and not ports:
            continue
        key = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
        ready, not_ready = groups.setdefault(key, ([], []))
        (ready if publish_not_ready or is_ready(pod) else not_ready).append(addr)
    subsets = []
    for key in sorted(groups):
        ready, not_ready = groups[key]
        subset: dict[str, Any] = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
        ports = [dict(zip(("name", "port", "protocol"), k, strict=True)) for k in key]
        for p in ports:
            if not p["name"]:
                del p["name"]
        if ports:
            subset["ports"] = ports
        subsets.append(subset)
    return subsets


class EndpointsController(Controller):
    name = "endpoints-controller"
    workers = 2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.svc_informer = self.informers.informer("services")
        self.pod_informer = self.informers.informer("pods")
        self.ep_informer = self.informers.informer("endpoints")
        self.svc_informer.add_handler(
            lambda s: self.enqueue(key_of(s)),
            lambda o, n: self.enqueue(key_of(n)),
            lambda s: self.enqueue(key_of(s)),
        )
        self.pod_informer.add_handler(
            self._pod_changed, lambda o, n: self._pod_changed(n, o), self._pod_changed
        )
        # Someone edited or deleted our Endpoints: put them back.
        self.ep_informer.add_handler(None, lambda o, n: self._ep_changed(n), self._ep_changed)

    def _ep_changed(self, ep: Obj) -> None:
        if self.svc_informer.get_by_key(key_of(ep)) is not None:
            self.enqueue(key_of(ep))

    def _pod_changed(self, pod: Obj, old: Obj | None = None) -> None:
        for svc in self.svc_informer.list(namespace_of(pod)):
            selector = (svc.get("spec") or {}).get("selector")
            if map_selector_matches(selector, labels_of(pod)) or (
                old is not None and map_selector_matches(selector, labels_of(old))
            ):
                self.enqueue(key_of(svc))

    def sync(self, key: str) -> float | None:
        namespace, name = split_key(key)
        svc = self.svc_informer.get(name, namespace)
        if svc is None:
            try:
                self.client.delete("endpoints", name, namespace)
            except Exception as exc:
                if not is_not_found(exc):
                    raise
            return None
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            return None  # no selector: the user manages these Endpoints
        pods = [p for p in self.pod_informer.list(namespace) if map_selector_matches(selector, labels_of(p))]
        subsets = build_subsets(svc, pods)
        labels = dict(labels_of(svc))
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        current = self.ep_informer.get(name, namespace)
        if current is not None and (current.get("subsets") or []) == subsets and labels_of(current) == labels:
            return None
        ep: Obj = (
            copy.deepcopy(current)
            if current is not None
            else {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace}}
        )
        ep["metadata"]["labels"] = labels
        ep["metadata"].setdefault("annotations", {})[TRIGGER_TIME] = now_rfc3339(self.clock())
        if subsets:
            ep["subsets"] = subsets
        else:
            ep.pop("subsets", None)
        if current is None:
            try:
                self.client.create("endpoints", ep, namespace)
            except Exception as exc:
                if not is_already_exists(exc):
                    raise
                # Exists but our cache has not seen it: get it and retry as an update.
                live = self.client.get("endpoints", name, namespace)
                live["metadata"]["labels"] = labels
                live["metadata"].setdefault("annotations", {})[TRIGGER_TIME] = ep["metadata"]["annotations"][
                    TRIGGER_TIME
                ]
                live["subsets"] = subsets
                if not subsets:
                    live.pop("subsets", None)
                self.client.update("endpoints", live, namespace)
        else:
            self.client.update("endpoints", ep, namespace)
        return None
