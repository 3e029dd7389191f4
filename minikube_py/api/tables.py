"""Server-side printing: `kubectl get` asks for a meta.k8s.io/v1 Table and prints its cells as is.

The columns per kind are kubectl's (k8s.io/kubernetes/pkg/printers/internalversion/printers.go);
priority-1 columns are the extra ones `-o wide` shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from minikube_py.k8s.selectors import selector_string

from .objects.meta import parse_time
from .resources import Resource


def wants_table(accept: str) -> bool:
    return "as=Table" in accept.replace(" ", "")


# ---------------------------------------------------------------- formatting helpers
def human_duration(seconds: float) -> str:
    """kubectl's duration.HumanDuration: 45s, 3m20s, 25m, 5h10m, 3d4h, 400d, 2y30d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    try:
        then = parse_time(ts)
    except ValueError:
        return "<unknown>"
    return human_duration((dt.datetime.now(dt.UTC) - then).total_seconds())


def _col(name: str, typ: str = "string", desc: str = "", priority: int = 0, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": priority}


NAME = _col("Name", fmt="name", desc="Name must be unique within a namespace.")
AGE = _col(
    "Age", desc="CreationTimestamp is a timestamp representing the server time when this object was created."
)


# ---------------------------------------------------------------- pods
def pod_status_reason(pod: dict) -> str:
    """What kubectl shows in STATUS: Running, Pending, ContainerCreating, CrashLoopBackOff, Init:0/1, ..."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    init_statuses = status.get("initContainerStatuses") or []
    initializing = False
    n_init = len((pod.get("spec") or {}).get("initContainers") or [])
    for i, cs in enumerate(init_statuses):
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = (
                ("Init:" + term["reason"])
                if term.get("reason")
                else (
                    f"Init:Signal:{term['signal']}"
                    if term.get("signal")
                    else f"Init:ExitCode:{term.get('exitCode')}"
                )
            )
        elif (state.get("waiting") or {}).get("reason") and state["waiting"]["reason"] != "PodInitializing":
            reason = "Init:" + state["waiting"]["reason"]
        else:
            reason = f"Init:{i}/{n_init}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
            elif state.get("terminated"):
                t = state["terminated"]
                reason = f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode')}"
            elif state.get("running") and cs.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running" if _pod_ready(pod) else "NotReady"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason


def _pod_ready(pod: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _pod_row(pod: dict) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    last = None
    for c in statuses:
        fin = ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if fin and (last is None or fin > last):
            last = fin
    restarts_cell = f"{restarts} ({age(last)} ago)" if restarts and last else str(restarts)
    gates = spec.get("readinessGates") or []
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        ok = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gates_cell = f"{ok}/{len(gates)}"
    else:
        gates_cell = "<none>"
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        pod_status_reason(pod),
        restarts_cell,
        age(pod["metadata"].get("creationTimestamp")),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_cell,
    ]


POD_COLUMNS = [
    NAME,
    _col("Ready", desc="The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", desc="The aggregate status of the containers in this pod."),
    _col(
        "Restarts",
        desc="The number of times the containers in this pod have been restarted and "
        "when the last container in this pod has restarted.",
    ),
    AGE,
    _col("IP", priority=1, desc="IP address allocated to the pod. Routable at least within the cluster."),
    _col("Node", priority=1, desc="NodeName is a request to schedule this pod onto a specific node."),
    _col(
        "Nominated Node",
        priority=1,
        desc="nominatedNodeName is set only when this pod preempts other pods on the node.",
    ),
    _col(
        "Readiness Gates",
        priority=1,
        desc="If specified, all readiness gates will be evaluated for pod readiness.",
    ),
]


# ---------------------------------------------------------------- services, endpoints
def _service_row(svc: dict) -> list[Any]:
    spec = svc.get("spec") or {}
    typ = spec.get("type", "ClusterIP")
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = list(spec.get("externalIPs") or [])
    if typ == "LoadBalancer":
        external += [i.get("ip") or i.get("hostname") for i in ingress]
        ext_cell = ",".join(external) if external else "<pending>"
    elif typ == "ExternalName":
        ext_cell = spec.get("externalName") or "<none>"
    else:
        ext_cell = ",".join(external) if external else "<none>"
    ports = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol", "TCP")
        ports.append(
            f"{p['port']}:{p['nodePort']}/{proto}" if p.get("nodePort") else f"{p.get('port')}/{proto}"
        )
    sel = spec.get("selector")
    return [
        svc["metadata"]["name"],
        typ,
        spec.get("clusterIP") or "<none>",
        ext_cell,
        ",".join(ports) if ports else "<none>",
        age(svc["metadata"].get("creationTimestamp")),
        ",".join(f"{k}={v}" for k, v in sorted(sel.items())) if sel else "<none>",
    ]


SERVICE_COLUMNS = [
    NAME,
    _col("Type", desc="type determines how the Service is exposed."),
    _col("Cluster-IP", desc="clusterIP is the IP address of the service."),
    _col(
        "External-IP",
        desc="externalIPs is a list of IP addresses for which nodes in the "
        "cluster will also accept traffic for this service.",
    ),
    _col("Port(s)", desc="The list of ports that are exposed by this service."),
    AGE,
    _col(
        "Selector",
        priority=1,
        desc="Route service traffic to pods with label keys and values matching this selector.",
    ),
]


def _endpoints_row(ep: dict) -> list[Any]:
    parts = []
    for s in ep.get("subsets") or []:
        ports = [p.get("port") for p in s.get("ports") or []] or [None]
        for a in s.get("addresses") or []:
            for p in ports:
                parts.append(f"{a.get('ip')}:{p}" if p else a.get("ip"))
    if len(parts) > 3:
        cell = ",".join(parts[:3]) + f" + {len(parts) - 3} more..."
    else:
        cell = ",".join(parts) if parts else "<none>"
    return [ep["metadata"]["name"], cell, age(ep["metadata"].get("creationTimestamp"))]


ENDPOINTS_COLUMNS = [NAME, _col("Endpoints", desc="Endpoints is the list of endpoints."), AGE]


# ---------------------------------------------------------------- workloads
def _containers(tpl_spec: dict) -> tuple[str, str]:
    cs = tpl_spec.get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _deployment_row(d: dict) -> list[Any]:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
    return [
        d["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(d["metadata"].get("creationTimestamp")),
        names,
        images,
        selector_string(spec.get("selector")) or "<none>",
    ]


DEPLOYMENT_COLUMNS = [
    NAME,
    _col("Ready", desc="Number of the pod with ready state"),
    _col(
        "Up-to-date",
        "integer",
        "Total number of non-terminated pods targeted by this "
        "deployment that have the desired template spec.",
    ),
    _col(
        "Available",
        "integer",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE,
    _col("Containers", priority=1, desc="Names of each container in the template."),
    _col("Images", priority=1, desc="Images referenced by each container in the template."),
    _col("Selector", priority=1, desc="Label selector for pods."),
]


def _replicaset_row(rs: dict) -> list[Any]:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
    return [
        rs["metadata"]["name"],
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        age(rs["metadata"].get("creationTimestamp")),
        names,
        images,
        selector_string(spec.get("selector")) or "<none>",
    ]


REPLICASET_COLUMNS = [
    NAME,
    _col("Desired", "integer", "Replicas is the number of desired replicas."),
    _col("Current", "integer", "Replicas is the most recently observed number of replicas."),
    _col("Ready", "integer", "The number of ready replicas for this replica set."),
    AGE,
    _col("Containers", priority=1, desc="Names of each container in the template."),
    _col("Images", priority=1, desc="Images referenced by each container in the template."),
    _col("Selector", priority=1, desc="Label selector for pods."),
]


# ---------------------------------------------------------------- nodes, namespaces, events
def _node_row(node: dict) -> list[Any]:
    status, spec = node.get("status") or {}, node.get("spec") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(
        {k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")}
        | ({labels["kubernetes.io/role"]} if "kubernetes.io/role" in labels else set())
    )
    info = status.get("nodeInfo") or {}
    addrs = status.get("addresses") or []

    def addr(t: str) -> str:
        return next((a.get("address") for a in addrs if a.get("type") == t), None) or "<none>"

    return [
        node["metadata"]["name"],
        state,
        ",".join(roles) if roles else "<none>",
        age(node["metadata"].get("creationTimestamp")),
        info.get("kubeletVersion", ""),
        addr("InternalIP"),
        addr("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


NODE_COLUMNS = [
    NAME,
    _col("Status", desc="The status of the node"),
    _col("Roles", desc="The roles of the node"),
    AGE,
    _col("Version", desc="Kubelet Version reported by the node."),
    _col(
        "Internal-IP",
        priority=1,
        desc="List of addresses reachable to the node. Queried from cloud provider, if available.",
    ),
    _col(
        "External-IP",
        priority=1,
        desc="List of addresses reachable to the node. Queried from cloud provider, if available.",
    ),
    _col(
        "OS-Image",
        priority=1,
        desc="OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    _col(
        "Kernel-Version",
        priority=1,
        desc="Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    _col(
        "Container-Runtime",
        priority=1,
        desc="Container runtime version reported by the node "
        "through runtime remote API (e.g. containerd://1.4.2).",
    ),
]


def _namespace_row(ns: dict) -> list[Any]:
    return [
        ns["metadata"]["name"],
        (ns.get("status") or {}).get("phase", ""),
        age(ns["metadata"].get("creationTimestamp")),
    ]


NAMESPACE_COLUMNS = [NAME, _col("Status", desc="The status of the namespace"), AGE]


def _event_row(ev: dict) -> list[Any]:
    inv = ev.get("involvedObject") or {}
    src = ev.get("source") or {}
    first = ev.get("firstTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    last = ev.get("lastTimestamp") or (ev.get("series") or {}).get("lastObservedTime") or first
    source = src.get("component") or ev.get("reportingComponent") or ""
    if src.get("host"):
        source += f", {src['host']}"
    count = ev.get("count") or (ev.get("series") or {}).get("count") or 1
    last_cell = age(last)
    if count > 1:
        last_cell = f"{age(last)} (x{count} over {age(first)})"
    return [
        last_cell,
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{(inv.get('kind') or '').lower()}/{inv.get('name', '')}",
        inv.get("fieldPath", ""),
        source,
        (ev.get("message") or "").strip(),
        age(first),
        count,
        ev["metadata"]["name"],
    ]


EVENT_COLUMNS = [
    _col("Last Seen", desc="Time when last event from this series was observed."),
    _col("Type", desc="Type of this event (Normal, Warning), new types could be added in the future."),
    _col("Reason", desc="Reason is why the action was taken. It is human-readable."),
    _col("Object", desc="The object this Event is about."),
    _col("Subobject", priority=1, desc="The specific part of the object this Event is about."),
    _col("Source", priority=1, desc="The component reporting this event."),
    _col("Message", desc="A human-readable description of the status of this operation."),
    _col("First Seen", priority=1, desc="The time at which the event was first recorded."),
    _col("Count", "integer", "The number of times this event has occurred.", priority=1),
    _col("Name", priority=1, desc="Name must be unique within a namespace."),
]


def _configmap_row(cm: dict) -> list[Any]:
    n = len(cm.get("data") or {}) + len(cm.get("binaryData") or {})
    return [cm["metadata"]["name"], n, age(cm["metadata"].get("creationTimestamp"))]


def _secret_row(s: dict) -> list[Any]:
    return [
        s["metadata"]["name"],
        s.get("type", ""),
        len(s.get("data") or {}),
        age(s["metadata"].get("creationTimestamp")),
    ]


def _lease_row(lease: dict) -> list[Any]:
    return [
        lease["metadata"]["name"],
        (lease.get("spec") or {}).get("holderIdentity") or "<none>",
        age(lease["metadata"].get("creationTimestamp")),
    ]


_ACCESS = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}


def _modes(spec: dict) -> str:
    return ",".join(_ACCESS.get(m, m) for m in spec.get("accessModes") or [])


def _pvc_row(pvc: dict) -> list[Any]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    capacity = (status.get("capacity") or {}).get("storage", "")
    return [
        pvc["metadata"]["name"],
        status.get("phase", ""),
        spec.get("volumeName", ""),
        capacity,
        _modes(status) if status.get("accessModes") else "",
        spec.get("storageClassName") or "",
        spec.get("volumeAttributesClassName") or "<unset>",
        age(pvc["metadata"].get("creationTimestamp")),
        spec.get("volumeMode", ""),
    ]


def _pv_row(pv: dict) -> list[Any]:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    claim = spec.get("claimRef") or {}
    return [
        pv["metadata"]["name"],
        (spec.get("capacity") or {}).get("storage", ""),
        _modes(spec),
        spec.get("persistentVolumeReclaimPolicy", ""),
        status.get("phase", ""),
        f"{claim['namespace']}/{claim['name']}" if claim.get("name") else "",
        spec.get("storageClassName") or "",
        spec.get("volumeAttributesClassName") or "<unset>",
        status.get("reason", ""),
        age(pv["metadata"].get("creationTimestamp")),
        spec.get("volumeMode", ""),
    ]


def _netpol_row(np: dict) -> list[Any]:
    sel = selector_string((np.get("spec") or {}).get("podSelector"))
    return [np["metadata"]["name"], sel or "<none>", age(np["metadata"].get("creationTimestamp"))]


def _ingress_hosts(rules: list[dict]) -> str:
    """kubectl's formatHosts: the first three hosts, '+ N more...' after; '*' if no rule names one."""
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        if not more and (rule or {}).get("host"):
            hosts.append(rule["host"])
    if not hosts:
        return "*"
    return ",".join(hosts) + (f" + {len(rules) - 3} more..." if more else "")


def _ingress_row(ing: dict) -> list[Any]:
    spec, status = ing.get("spec") or {}, ing.get("status") or {}
    lb = (status.get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(a.get("ip") or a.get("hostname") or "" for a in lb)
    return [
        ing["metadata"]["name"],
        spec.get("ingressClassName") or "<none>",
        _ingress_hosts(spec.get("rules") or []),
        address,
        "80, 443" if spec.get("tls") else "80",
        age(ing["metadata"].get("creationTimestamp")),
    ]


def _ingress_class_row(ic: dict) -> list[Any]:
    params = (ic.get("spec") or {}).get("parameters")
    shown = "<none>"
    if params:
        shown = params.get("kind", "") + (f".{params['apiGroup']}" if params.get("apiGroup") else "")
        shown += "/" + params.get("name", "")
    return [ic["metadata"]["name"], (ic.get("spec") or {}).get("controller", ""), shown,
            age(ic["metadata"].get("creationTimestamp"))]


def _sa_row(sa: dict) -> list[Any]:
    return [
        sa["metadata"]["name"],
        len(sa.get("secrets") or []),
        age(sa["metadata"].get("creationTimestamp")),
    ]


def _default_row(obj: dict) -> list[Any]:
    return [obj["metadata"]["name"], age(obj["metadata"].get("creationTimestamp"))]


_TABLES: dict[str, tuple[list[dict], Callable[[dict], list[Any]]]] = {
    "pods": (POD_COLUMNS, _pod_row),
    "services": (SERVICE_COLUMNS, _service_row),
    "endpoints": (ENDPOINTS_COLUMNS, _endpoints_row),
    "deployments": (DEPLOYMENT_COLUMNS, _deployment_row),
    "replicasets": (REPLICASET_COLUMNS, _replicaset_row),
    "nodes": (NODE_COLUMNS, _node_row),
    "namespaces": (NAMESPACE_COLUMNS, _namespace_row),
    "events": (EVENT_COLUMNS, _event_row),
    "configmaps": (
        [NAME, _col("Data", "integer", "Data contains the configuration data."), AGE],
        _configmap_row,
    ),
    "secrets": (
        [
            NAME,
            _col("Type", desc="Used to facilitate programmatic handling of secret data."),
            _col("Data", "integer", "Data contains the secret data."),
            AGE,
        ],
        _secret_row,
    ),
    "leases": ([NAME, _col("Holder", desc="The holder of the lease."), AGE], _lease_row),
    "persistentvolumeclaims": (
        [
            NAME,
            _col("Status"),
            _col("Volume"),
            _col("Capacity"),
            _col("Access Modes"),
            _col("StorageClass"),
            _col("VolumeAttributesClass"),
            AGE,
            _col("VolumeMode", priority=1),
        ],
        _pvc_row,
    ),
    "persistentvolumes": (
        [
            NAME,
            _col("Capacity"),
            _col("Access Modes"),
            _col("Reclaim Policy"),
            _col("Status"),
            _col("Claim"),
            _col("StorageClass"),
            _col("VolumeAttributesClass"),
            _col("Reason"),
            AGE,
            _col("VolumeMode", priority=1),
        ],
        _pv_row,
    ),
    "networkpolicies": ([NAME, _col("Pod-Selector"), AGE], _netpol_row),
    "ingresses": (
        [
            NAME,
            _col("Class", desc="The name of the IngressClass resource that should be used for this Ingress."),
            _col("Hosts", desc="Hosts that incoming requests are matched against before the ingress rule"),
            _col("Address", desc="Address is a list containing ingress points for the load-balancer"),
            _col("Ports", desc="Ports of TLS configurations that open"),
            AGE,
        ],
        _ingress_row,
    ),
    "ingressclasses": (
        [
            NAME,
            _col("Controller", desc="Controller that is responsible for handling this class"),
            _col("Parameters", desc="A reference to a resource with additional parameters"),
            AGE,
        ],
        _ingress_class_row,
    ),
    "serviceaccounts": ([NAME, _col("Secrets", "integer"), AGE], _sa_row),
}


def columns_for(res: Resource) -> list[dict]:
    return _TABLES.get(res.plural, ([NAME, AGE], _default_row))[0]


def row_for(res: Resource, obj: dict) -> list[Any]:
    return _TABLES.get(res.plural, ([NAME, AGE], _default_row))[1](obj)


def table(
    res: Resource,
    items: list[dict],
    list_meta: dict[str, Any],
    include: str = "Metadata",
    columns: bool = True,
) -> dict[str, Any]:
    rows = []
    for obj in items:
        row: dict[str, Any] = {"cells": row_for(res, obj)}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns_for(res) if columns else [],
        "rows": rows,
    }
