"""`mkpy describe`: kubectl's human-readable report of an object, with its Events.

Each describer writes lines with tab-separated cells, as kubectl's describers do, and
`printers.gotab` aligns them the way Go's tabwriter does — so the layout matches kubectl's
line for line. The Events at the bottom are a second query: events whose
`involvedObject` is this object (a field selector), sorted by last time seen.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable

import click

from minikube_py.api.errors import ApiError
from minikube_py.api.resources import Resource
from minikube_py.api.tables import age

from . import printers
from .kubeclient import Kube, KubeError, kube_options, resolve, server_error, split_type_name

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class Out:
    """Lines at kubectl's indentation levels (0, 2, 4, 6 spaces), cells separated by tabs."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def w(self, level: int, text: str) -> None:
        self.lines.append("  " * level + text)

    def text(self) -> str:
        return printers.gotab("\n".join(self.lines) + "\n", 0, 2)


def rfc1123(ts: str | None) -> str:
    if not ts:
        return "<unset>"
    t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone()
    return t.strftime("%a, %d %b %Y %H:%M:%S %z")


def multiline(o: Out, level: int, title: str, values: dict | None, sep: str = "=") -> None:
    """kubectl's printLabelsMultiline: the first on the title line, the rest under it."""
    items = sorted((values or {}).items())
    if not items:
        o.w(level, f"{title}:\t<none>")
        return
    for i, (k, v) in enumerate(items):
        o.w(level, f"{title}:\t{k}{sep}{v}" if i == 0 else f"\t{k}{sep}{v}")


def annotations(o: Out, level: int, meta: dict, title: str = "Annotations") -> None:
    anns = {}
    for k, v in (meta.get("annotations") or {}).items():
        if k == LAST_APPLIED:
            continue
        anns[k] = v if len(v) <= 140 else v[:140] + "..."
    multiline(o, level, title, anns, ": ")


def selector_text(sel: dict | None) -> str:
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or sel).items()) if isinstance(v, str)]
    for e in sel.get("matchExpressions") or []:
        parts.append(f"{e['key']} {e['operator'].lower()} ({','.join(e.get('values') or [])})")
    return ",".join(parts) or "<none>"


def tolerations(o: Out, level: int, title: str, tols: list | None) -> None:
    if not tols:
        o.w(level, f"{title}:\t<none>")
        return
    for i, t in enumerate(tols):
        s = t.get("key", "")
        if t.get("value"):
            s += f"={t['value']}"
        if t.get("effect"):
            s += f":{t['effect']}"
        if t.get("operator") == "Exists" and not t.get("value"):
            s += " op=Exists"
        if t.get("tolerationSeconds") is not None:
            s += f" for {t['tolerationSeconds']}s"
        o.w(level, f"{title}:\t{s}" if i == 0 else f"\t{s}")


# ---------------------------------------------------------------- containers
def _ports(ports: list | None, field: str) -> str:
    return ", ".join(f"{p.get(field, 0)}/{p.get('protocol', 'TCP')}" for p in ports or [])


def _state(o: Out, title: str, state: dict) -> None:
    if "running" in state:
        o.w(2, f"{title}:\tRunning")
        o.w(3, f"Started:\t{rfc1123(state['running'].get('startedAt'))}")
    elif "waiting" in state:
        o.w(2, f"{title}:\tWaiting")
        if state["waiting"].get("reason"):
            o.w(3, f"Reason:\t{state['waiting']['reason']}")
    elif "terminated" in state:
        t = state["terminated"]
        o.w(2, f"{title}:\tTerminated")
        if t.get("reason"):
            o.w(3, f"Reason:\t{t['reason']}")
        if t.get("message"):
            o.w(3, f"Message:\t{t['message']}")
        o.w(3, f"Exit Code:\t{t.get('exitCode', 0)}")
        if t.get("signal"):
            o.w(3, f"Signal:\t{t['signal']}")
        o.w(3, f"Started:\t{rfc1123(t.get('startedAt'))}")
        o.w(3, f"Finished:\t{rfc1123(t.get('finishedAt'))}")
    else:
        o.w(2, f"{title}:\tWaiting")


def _env(c: dict) -> list[str]:
    out = []
    for e in c.get("env") or []:
        src = e.get("valueFrom")
        if not src:
            out.append(f"{e['name']}:\t{e.get('value', '')}")
        elif "fieldRef" in src:
            f = src["fieldRef"]
            out.append(f"{e['name']}:\t ({f.get('apiVersion', 'v1')}:{f.get('fieldPath')})")
        elif "configMapKeyRef" in src:
            r = src["configMapKeyRef"]
            out.append(f"{e['name']}:\t<set to the key '{r.get('key')}' of config map '{r.get('name')}'>")
        elif "secretKeyRef" in src:
            r = src["secretKeyRef"]
            out.append(f"{e['name']}:\t<set to the key '{r.get('key')}' in secret '{r.get('name')}'>")
        else:
            out.append(f"{e['name']}:\t{json.dumps(src)}")
    return out


def containers(
    o: Out, title_prefix: str, name_prefix: str, label: str, specs: list, statuses: list | None
) -> None:
    o.lines.append(f"{title_prefix}{label}:")
    by_name = {s["name"]: s for s in statuses or []}
    for c in specs:
        st = by_name.get(c["name"])
        o.lines.append(f"{name_prefix}{c['name']}:")
        if st and st.get("containerID"):
            o.w(2, f"Container ID:\t{st['containerID']}")
        o.w(2, f"Image:\t{c.get('image', '')}")
        if st:
            o.w(2, f"Image ID:\t{st.get('imageID', '')}")
        ports, host = _ports(c.get("ports"), "containerPort"), _ports(c.get("ports"), "hostPort")
        o.w(2, f"{'Ports' if ',' in ports else 'Port'}:\t{ports or '<none>'}")
        o.w(2, f"{'Host Ports' if ',' in host else 'Host Port'}:\t{host or '<none>'}")
        for field, title in (("command", "Command"), ("args", "Args")):
            if c.get(field):
                o.w(2, f"{title}:")
                for part in c[field]:
                    for line in str(part).split("\n"):
                        o.w(3, line)
        if st:
            _state(o, "State", st.get("state") or {})
            if st.get("lastState"):
                _state(o, "Last State", st["lastState"])
            o.w(2, f"Ready:\t{'True' if st.get('ready') else 'False'}")
            o.w(2, f"Restart Count:\t{st.get('restartCount', 0)}")
        res = c.get("resources") or {}
        for kind in ("limits", "requests"):
            if res.get(kind):
                o.w(2, f"{kind.capitalize()}:")
                for k, v in sorted(res[kind].items()):
                    o.w(3, f"{k}:\t{v}")
        env = _env(c)
        if env:
            o.w(2, "Environment:")
            for line in env:
                o.w(3, line)
        else:
            o.w(2, "Environment:\t<none>")
        mounts = c.get("volumeMounts") or []
        if mounts:
            o.w(2, "Mounts:")
            for m in sorted(mounts, key=lambda m: m.get("mountPath", "")):
                mode = "ro" if m.get("readOnly") else "rw"
                o.w(3, f"{m.get('mountPath')} from {m.get('name')} ({mode})")
        else:
            o.w(2, "Mounts:\t<none>")


def volumes(o: Out, prefix: str, vols: list | None) -> None:
    if not vols:
        o.lines.append(f"{prefix}Volumes:\t<none>")
        return
    o.lines.append(f"{prefix}Volumes:")
    for v in vols:
        o.lines.append(f"{prefix}  {v['name']}:")
        kind = next((k for k in v if k != "name"), "")
        src = v.get(kind) or {}
        o.lines.append(f"{prefix}    Type:\t{kind}")
        for k, val in sorted(src.items()) if isinstance(src, dict) else []:
            if not isinstance(val, (dict, list)):
                o.lines.append(f"{prefix}    {k[0].upper() + k[1:]}:\t{val}")


# ---------------------------------------------------------------- events
def events_for(kube: Kube, obj: dict, res: Resource) -> list[dict]:
    meta = obj["metadata"]
    sel = [f"involvedObject.name={meta['name']}"]
    if meta.get("uid"):
        sel.append(f"involvedObject.uid={meta['uid']}")
    ns = meta.get("namespace") or "default"
    try:
        listed = kube.client.list("events", ns if res.namespaced else None, field_selector=",".join(sel))
    except ApiError:
        return []
    return listed.get("items") or []


def _ev_time(e: dict) -> str:
    return e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or ""


def describe_events(o: Out, events: list[dict]) -> None:
    if not events:
        o.w(0, "Events:\t<none>")
        return
    o.lines.append("Events:")
    o.w(1, "Type\tReason\tAge\tFrom\tMessage")
    o.w(1, "----\t------\t----\t----\t-------")
    for e in sorted(events, key=_ev_time):
        first = e.get("firstTimestamp") or e.get("eventTime")
        if (e.get("count") or 1) > 1:
            when = f"{age(e.get('lastTimestamp'))} (x{e['count']} over {age(first)})"
        else:
            when = age(first)
        src = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
        o.w(
            1,
            f"{e.get('type', '')}\t{e.get('reason', '')}\t{when}\t{src}\t{(e.get('message') or '').strip()}",
        )


# ---------------------------------------------------------------- per kind
def describe_pod(kube: Kube, pod: dict, o: Out) -> None:
    meta, spec, st = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    o.w(0, f"Name:\t{meta['name']}")
    o.w(0, f"Namespace:\t{meta.get('namespace', '')}")
    if spec.get("priority") is not None:
        o.w(0, f"Priority:\t{spec['priority']}")
    if spec.get("priorityClassName"):
        o.w(0, f"Priority Class Name:\t{spec['priorityClassName']}")
    if spec.get("serviceAccountName"):
        o.w(0, f"Service Account:\t{spec['serviceAccountName']}")
    node = spec.get("nodeName")
    o.w(0, f"Node:\t{node + '/' + st.get('hostIP', '') if node else '<none>'}")
    if st.get("startTime"):
        o.w(0, f"Start Time:\t{rfc1123(st['startTime'])}")
    multiline(o, 0, "Labels", meta.get("labels"))
    annotations(o, 0, meta)
    if meta.get("deletionTimestamp"):
        o.w(0, f"Status:\tTerminating (lasts {age(meta['deletionTimestamp'])})")
        o.w(0, f"Termination Grace Period:\t{meta.get('deletionGracePeriodSeconds', 0)}s")
    else:
        o.w(0, f"Status:\t{st.get('phase', '')}")
    if st.get("reason"):
        o.w(0, f"Reason:\t{st['reason']}")
    if st.get("message"):
        o.w(0, f"Message:\t{st['message']}")
    o.w(0, f"IP:\t{st.get('podIP', '')}")
    ips = st.get("podIPs") or []
    if ips:
        o.w(0, "IPs:")
        for ip in ips:
            o.w(1, f"IP:\t{ip.get('ip')}")
    else:
        o.w(0, "IPs:\t<none>")
    owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    if owner:
        o.w(0, f"Controlled By:\t{owner['kind']}/{owner['name']}")
    if spec.get("initContainers"):
        containers(o, "", "  ", "Init Containers", spec["initContainers"], st.get("initContainerStatuses"))
    containers(o, "", "  ", "Containers", spec.get("containers") or [], st.get("containerStatuses"))
    conds = st.get("conditions") or []
    if conds:
        o.lines.append("Conditions:")
        o.w(1, "Type\tStatus")
        for c in conds:
            o.w(1, f"{c.get('type')} \t{c.get('status')} ")
    volumes(o, "", spec.get("volumes"))
    o.w(0, f"QoS Class:\t{st.get('qosClass') or qos_class(spec)}")
    multiline(o, 0, "Node-Selectors", spec.get("nodeSelector"))
    tolerations(o, 0, "Tolerations", spec.get("tolerations"))


def qos_class(spec: dict) -> str:
    reqs = [(c.get("resources") or {}) for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in reqs):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(k)
        and (r.get("requests") or r.get("limits") or {}).get(k) == (r.get("limits") or {}).get(k)
        for r in reqs
        for k in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def pod_template(o: Out, tpl: dict) -> None:
    meta, spec = tpl.get("metadata") or {}, tpl.get("spec") or {}
    o.lines.append("Pod Template:")
    multiline(o, 1, "Labels", meta.get("labels"))
    if meta.get("annotations"):
        annotations(o, 1, meta)
    if spec.get("serviceAccountName"):
        o.w(1, f"Service Account:\t{spec['serviceAccountName']}")
    if spec.get("initContainers"):
        containers(o, "  ", "   ", "Init Containers", spec["initContainers"], None)
    containers(o, "  ", "   ", "Containers", spec.get("containers") or [], None)
    volumes(o, "  ", spec.get("volumes"))
    multiline(o, 1, "Node-Selectors", spec.get("nodeSelector"))
    tolerations(o, 1, "Tolerations", spec.get("tolerations"))


def describe_deployment(kube: Kube, d: dict, o: Out) -> None:
    meta, spec, st = d["metadata"], d.get("spec") or {}, d.get("status") or {}
    o.w(0, f"Name:\t{meta['name']}")
    o.w(0, f"Namespace:\t{meta.get('namespace', '')}")
    o.w(0, f"CreationTimestamp:\t{rfc1123(meta.get('creationTimestamp'))}")
    multiline(o, 0, "Labels", meta.get("labels"))
    annotations(o, 0, meta)
    o.w(0, f"Selector:\t{selector_text(spec.get('selector'))}")
    o.w(
        0,
        f"Replicas:\t{spec.get('replicas', 1)} desired | {st.get('updatedReplicas', 0)} updated | "
        f"{st.get('replicas', 0)} total | {st.get('availableReplicas', 0)} available | "
        f"{st.get('unavailableReplicas', 0)} unavailable",
    )
    strategy = spec.get("strategy") or {}
    o.w(0, f"StrategyType:\t{strategy.get('type', 'RollingUpdate')}")
    o.w(0, f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}")
    ru = strategy.get("rollingUpdate")
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and ru:
        o.w(
            0,
            f"RollingUpdateStrategy:\t{ru.get('maxUnavailable')} max unavailable, "
            f"{ru.get('maxSurge')} max surge",
        )
    pod_template(o, spec.get("template") or {})
    conds = st.get("conditions") or []
    if conds:
        o.lines.append("Conditions:")
        o.w(1, "Type\tStatus\tReason")
        o.w(1, "----\t------\t------")
        for c in conds:
            o.w(1, f"{c.get('type')} \t{c.get('status')}\t{c.get('reason', '')}")
    rss = [
        rs
        for rs in kube.client.list("replicasets", meta.get("namespace")).get("items") or []
        if any(r.get("uid") == meta.get("uid") for r in rs["metadata"].get("ownerReferences") or [])
    ]
    if rss:
        from minikube_py.controllers import deployutil as du

        tpl = spec.get("template")
        new = [rs for rs in rss if du.equal_ignore_hash((rs.get("spec") or {}).get("template"), tpl)]
        old = [rs for rs in rss if rs not in new and (rs.get("spec") or {}).get("replicas", 0) > 0]

        def fmt(items: list[dict]) -> str:
            return (
                ", ".join(
                    f"{rs['metadata']['name']} ({(rs.get('status') or {}).get('replicas', 0)}/"
                    f"{(rs.get('spec') or {}).get('replicas', 0)} replicas created)"
                    for rs in items
                )
                or "<none>"
            )

        o.w(0, f"OldReplicaSets:\t{fmt(old)}")
        o.w(0, f"NewReplicaSet:\t{fmt(new)}")


def describe_service(kube: Kube, svc: dict, o: Out) -> None:
    meta, spec = svc["metadata"], svc.get("spec") or {}
    o.w(0, f"Name:\t{meta['name']}")
    o.w(0, f"Namespace:\t{meta.get('namespace', '')}")
    multiline(o, 0, "Labels", meta.get("labels"))
    annotations(o, 0, meta)
    sel = spec.get("selector") or {}
    o.w(0, f"Selector:\t{','.join(f'{k}={v}' for k, v in sorted(sel.items())) or '<none>'}")
    o.w(0, f"Type:\t{spec.get('type', 'ClusterIP')}")
    if spec.get("ipFamilyPolicy"):
        o.w(0, f"IP Family Policy:\t{spec['ipFamilyPolicy']}")
    o.w(0, f"IP Families:\t{','.join(spec.get('ipFamilies') or []) or '<none>'}")
    o.w(0, f"IP:\t{spec.get('clusterIP', '')}")
    o.w(0, f"IPs:\t{','.join(spec.get('clusterIPs') or []) or '<none>'}")
    if spec.get("externalIPs"):
        o.w(0, f"External IPs:\t{','.join(spec['externalIPs'])}")
    if spec.get("externalName"):
        o.w(0, f"External Name:\t{spec['externalName']}")
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        o.w(0, f"LoadBalancer Ingress:\t{', '.join(i.get('ip') or i.get('hostname', '') for i in ingress)}")
    try:
        ep = kube.client.get("endpoints", meta["name"], meta.get("namespace"))
    except ApiError:
        ep = {}
    for p in spec.get("ports") or []:
        name = p.get("name") or "<unset>"
        proto = p.get("protocol", "TCP")
        o.w(0, f"Port:\t{name}\t{p.get('port')}/{proto}")
        tp = p.get("targetPort", p.get("port"))
        o.w(0, f"TargetPort:\t{tp}/{proto}")
        if p.get("nodePort"):
            o.w(0, f"NodePort:\t{name}\t{p['nodePort']}/{proto}")
        o.w(0, f"Endpoints:\t{endpoints_text(ep, p.get('name', ''))}")
    o.w(0, f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")
    if spec.get("externalTrafficPolicy"):
        o.w(0, f"External Traffic Policy:\t{spec['externalTrafficPolicy']}")
    if spec.get("healthCheckNodePort"):
        o.w(0, f"HealthCheck NodePort:\t{spec['healthCheckNodePort']}")


def endpoints_text(ep: dict, port_name: str) -> str:
    addrs = []
    for sub in ep.get("subsets") or []:
        ports = [p for p in sub.get("ports") or [] if (p.get("name") or "") == port_name] or []
        for a in sub.get("addresses") or []:
            for p in ports:
                addrs.append(f"{a['ip']}:{p['port']}")
    if not addrs:
        return "<none>"
    if len(addrs) > 3:
        return ",".join(addrs[:3]) + f" + {len(addrs) - 3} more..."
    return ",".join(addrs)


def describe_node(kube: Kube, node: dict, o: Out) -> None:
    meta, spec, st = node["metadata"], node.get("spec") or {}, node.get("status") or {}
    o.w(0, f"Name:\t{meta['name']}")
    roles = sorted(
        k.split("/", 1)[1] for k in (meta.get("labels") or {}) if k.startswith("node-role.kubernetes.io/")
    )
    o.w(0, f"Roles:\t{','.join(roles) or '<none>'}")
    multiline(o, 0, "Labels", meta.get("labels"))
    annotations(o, 0, meta)
    o.w(0, f"CreationTimestamp:\t{rfc1123(meta.get('creationTimestamp'))}")
    taints = [
        f"{t['key']}{'=' + t['value'] if t.get('value') else ''}:{t['effect']}"
        for t in spec.get("taints") or []
    ]
    if taints:
        for i, t in enumerate(taints):
            o.w(0, f"Taints:\t{t}" if i == 0 else f"\t{t}")
    else:
        o.w(0, "Taints:\t<none>")
    o.w(0, f"Unschedulable:\t{'true' if spec.get('unschedulable') else 'false'}")
    try:
        lease = kube.client.get("leases", meta["name"], "kube-node-lease")
        ls = lease.get("spec") or {}
        o.lines.append("Lease:")
        o.w(1, f"HolderIdentity:\t{ls.get('holderIdentity', '<unset>')}")
        o.w(1, f"AcquireTime:\t{rfc1123(ls.get('acquireTime'))}")
        o.w(1, f"RenewTime:\t{rfc1123(ls.get('renewTime'))}")
    except ApiError as e:
        o.w(0, f"Lease:\tFailed to get lease: {e.message}")
    conds = st.get("conditions") or []
    if conds:
        o.lines.append("Conditions:")
        o.w(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage")
        o.w(1, "----\t------\t-----------------\t------------------\t------\t-------")
        for c in conds:
            o.w(
                1,
                f"{c.get('type')} \t{c.get('status')} \t{rfc1123(c.get('lastHeartbeatTime'))} \t"
                f"{rfc1123(c.get('lastTransitionTime'))} \t{c.get('reason', '')} \t{c.get('message', '')}",
            )
    addrs = st.get("addresses") or []
    if addrs:
        o.lines.append("Addresses:")
        for a in addrs:
            o.w(1, f"{a['type']}:\t{a['address']}")
    for title, field in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        if st.get(field):
            o.lines.append(f"{title}:")
            for k, v in sorted(st[field].items()):
                o.w(1, f"{k}:\t{v}")
    info = st.get("nodeInfo") or {}
    if True:  # kubectl prints the section even when the kubelet reported nothing
        o.lines.append("System Info:")
        for title, key in (
            ("Machine ID", "machineID"),
            ("System UUID", "systemUUID"),
            ("Boot ID", "bootID"),
            ("Kernel Version", "kernelVersion"),
            ("OS Image", "osImage"),
            ("Operating System", "operatingSystem"),
            ("Architecture", "architecture"),
            ("Container Runtime Version", "containerRuntimeVersion"),
            ("Kubelet Version", "kubeletVersion"),
            ("Kube-Proxy Version", "kubeProxyVersion"),
        ):
            o.w(1, f"{title}:\t{info.get(key, '')}")
    if spec.get("podCIDR"):
        o.w(0, f"PodCIDR:\t{spec['podCIDR']}")
        o.w(0, f"PodCIDRs:\t{','.join(spec.get('podCIDRs') or [spec['podCIDR']])}")
    pods = [
        p
        for p in kube.client.list("pods", None, field_selector=f"spec.nodeName={meta['name']}").get("items")
        or []
        if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
    o.w(0, f"Non-terminated Pods:\t({len(pods)} in total)")
    o.w(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge")
    o.w(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---")
    alloc = st.get("allocatable") or {}
    totals = {"cpu": [0.0, 0.0], "memory": [0.0, 0.0], "ephemeral-storage": [0.0, 0.0]}
    for p in pods:
        sums = {k: [0.0, 0.0] for k in totals}
        for c in (p.get("spec") or {}).get("containers") or []:
            r = c.get("resources") or {}
            for k in sums:
                req = (r.get("requests") or {}).get(k) or (r.get("limits") or {}).get(k)
                sums[k][0] += quantity(req)
                sums[k][1] += quantity((r.get("limits") or {}).get(k))
        for k in totals:
            totals[k][0] += sums[k][0]
            totals[k][1] += sums[k][1]
        cells = [_pct(k, sums[k][i], alloc.get(k)) for k in ("cpu", "memory") for i in (0, 1)]
        o.w(
            1,
            f"{p['metadata'].get('namespace')}\t{p['metadata']['name']}\t\t{cells[0]}\t{cells[1]}\t"
            f"{cells[2]}\t{cells[3]}\t{age(p['metadata'].get('creationTimestamp'))}",
        )
    o.lines.append("Allocated resources:")
    o.w(1, "(Total limits may be over 100 percent, i.e., overcommitted.)")
    o.w(1, "Resource\tRequests\tLimits")
    o.w(1, "--------\t--------\t------")
    for k in totals:
        o.w(1, f"{k}\t{_pct(k, totals[k][0], alloc.get(k))}\t{_pct(k, totals[k][1], alloc.get(k))}")


_SUFFIX = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "m": 1e-3,
}


def quantity(q: str | int | None) -> float:
    """A Kubernetes quantity (`100m`, `128Mi`, `2`) as a number of cores or bytes."""
    if q in (None, ""):
        return 0.0
    s = str(q)
    for suf in sorted(_SUFFIX, key=len, reverse=True):
        if s.endswith(suf):
            return float(s[: -len(suf)]) * _SUFFIX[suf]
    return float(s)


def _pct(kind: str, value: float, allocatable: str | None) -> str:
    total = quantity(allocatable)
    pct = int(value * 100 / total) if total else 0
    if kind == "cpu":
        text = "0" if not value else f"{int(value)}" if value == int(value) else f"{round(value * 1000)}m"
    else:
        text = "0"
        for suf in ("Gi", "Mi", "Ki"):
            if value and value % _SUFFIX[suf] == 0:
                text = f"{int(value // _SUFFIX[suf])}{suf}"
                break
        else:
            text = str(int(value))
    return f"{text} ({pct}%)"


def describe_generic(kube: Kube, obj: dict, o: Out) -> None:
    """Other kinds: the metadata kubectl always shows, then the rest as YAML."""
    meta = obj["metadata"]
    o.w(0, f"Name:\t{meta['name']}")
    if meta.get("namespace"):
        o.w(0, f"Namespace:\t{meta['namespace']}")
    multiline(o, 0, "Labels", meta.get("labels"))
    annotations(o, 0, meta)
    rest = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    if rest:
        body = printers.to_yaml(rest).rstrip("\n").replace("\t", "    ")
        o.lines.extend(body.split("\n"))


DESCRIBERS: dict[str, Callable[[Kube, dict, Out], None]] = {
    "pods": describe_pod,
    "deployments": describe_deployment,
    "services": describe_service,
    "nodes": describe_node,
}


def describe_text(kube: Kube, res: Resource, obj: dict, show_events: bool = True) -> str:
    o = Out()
    DESCRIBERS.get(res.plural, describe_generic)(kube, obj, o)
    if show_events and res.plural != "events":
        describe_events(o, events_for(kube, obj, res))
    return o.text()


@click.command("describe")
@click.argument("args", nargs=-1)
@click.option("-l", "--selector", help="Describe every object of TYPE matching this label selector.")
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("--show-events", type=click.BOOL, default=True, is_flag=False, flag_value=True)
@kube_options
def describe(
    kube: Kube, args: tuple[str, ...], selector: str | None, all_namespaces: bool, show_events: bool
) -> None:
    """Show an object the way a person reads it, with its recent Events.

    `describe pod NAME`, `describe deploy/NAME`, `describe nodes`, `describe svc -l app=x`.
    A name that is a prefix describes every object starting with it, as kubectl does."""
    if not args:
        raise KubeError("You must specify the type of resource to describe.")
    objects: list[tuple[Resource, dict]] = []
    prefixed: set[int] = set()  # found by name prefix: kubectl ends each with a blank line
    errors = []
    for res, name in split_type_name(args):
        ns = None if all_namespaces else kube.namespace
        if name:
            try:
                objects.append((res, kube.client.get(res, name, ns or kube.namespace)))
                continue
            except ApiError as e:
                if e.reason != "NotFound":
                    raise
                listed = kube.client.list(res, ns).get("items") or []
                hits = [o for o in listed if o["metadata"]["name"].startswith(name)]
                if not hits:
                    errors.append(server_error(e))
                objects.extend((res, o) for o in hits)
                prefixed.update(id(o) for o in hits)
        else:
            listed = kube.client.list(res, ns, label_selector=selector).get("items") or []
            objects.extend((res, o) for o in listed)
    for i, (res, obj) in enumerate(objects):
        text = describe_text(kube, res, obj, show_events)
        if id(obj) in prefixed:
            sys.stdout.write(text + "\n")
        else:
            sys.stdout.write(("\n\n" if i else "") + text)
    if not objects and not errors:
        click.echo(f"No resources found in {kube.namespace} namespace.", err=True)
    for e in errors:
        click.echo(e, err=True)
    if errors:
        sys.exit(1)


# ---------------------------------------------------------------- explain
FIELDS_HELP: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "Pod": (
        "Pod is a collection of containers that can run on a host. The kubelet on the pod's node runs them.",
        [
            ("spec.containers", "The containers: name, image, command/args, ports, env, resources, probes."),
            (
                "spec.restartPolicy",
                "Always | OnFailure | Never: what the kubelet does when a container exits.",
            ),
            ("spec.nodeName", "The node the scheduler bound the pod to."),
            ("spec.volumes", "Storage the containers can mount (emptyDir, hostPath, configMap, secret)."),
            ("status.phase", "Pending | Running | Succeeded | Failed | Unknown."),
            (
                "status.containerStatuses",
                "Per container: state (waiting/running/terminated), ready, restarts.",
            ),
        ],
    ),
    "Deployment": (
        "Deployment keeps `replicas` copies of a pod template running, rolling out changes gradually "
        "through ReplicaSets.",
        [
            ("spec.replicas", "How many pods to run."),
            ("spec.selector", "Which pods belong to it; must match the template's labels."),
            ("spec.template", "The pod to run (metadata.labels + spec)."),
            ("spec.strategy", "RollingUpdate (maxSurge/maxUnavailable) or Recreate."),
            ("status.updatedReplicas", "Pods already running the newest template."),
            ("status.availableReplicas", "Pods ready for at least minReadySeconds."),
        ],
    ),
    "Service": (
        "Service gives a set of pods (its selector) one stable virtual IP and DNS name; kube-proxy's "
        "rules spread connections over the ready pods.",
        [
            ("spec.selector", "Labels of the pods behind the service."),
            ("spec.ports", "port (on the service IP), targetPort (on the pod), nodePort (on every node)."),
            ("spec.type", "ClusterIP | NodePort | LoadBalancer | ExternalName."),
            ("spec.clusterIP", "The virtual IP, allocated by the API server."),
        ],
    ),
}


@click.command("explain")
@click.argument("what")
@kube_options
def explain(kube: Kube, what: str) -> None:
    """Short documentation of a kind (or a field path, `pods.spec`), from the server's discovery."""
    kind_name, _, field = what.partition(".")
    res = resolve(kind_name)
    click.echo(f"KIND:       {res.kind}")
    click.echo(f"VERSION:    {res.api_version}\n")
    summary, fields = FIELDS_HELP.get(res.kind, (f"{res.kind} ({res.group_resource}).", []))
    click.echo("DESCRIPTION:")
    click.echo(f"    {summary}\n")
    if field:
        fields = [(f, d) for f, d in fields if f.startswith(field)]
        if not fields:
            raise KubeError(
                f'field "{field}" does not exist (only a short guide is built in; see '
                "`kubectl explain` for the full schema)"
            )
    info = [
        ("short names", ", ".join(res.short_names) or "<none>"),
        ("namespaced", "yes" if res.namespaced else "no"),
        ("subresources", ", ".join(sorted(res.subresources)) or "<none>"),
        ("api path", f"/{'apis/' + res.group if res.group else 'api'}/{res.version}/{res.plural}"),
    ]
    click.echo("RESOURCE:")
    click.echo(printers.gotab("\n".join(f"    {k}:\t{v}" for k, v in info) + "\n").rstrip())
    if fields:
        click.echo("\nFIELDS:")
        click.echo(printers.gotab("\n".join(f"    {f}\t{d}" for f, d in fields) + "\n").rstrip())
