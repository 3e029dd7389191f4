"""The job each user-mode-linux VM runs in test_uml_cluster.py (not a test module itself).

    python uml_cluster_node.py cp|w1|w2 RESULTS_DIR PKI_DIR TOKEN

Each VM is a machine of the cluster (host network, its eth0 on the uml_switch LAN):
  cp  192.168.60.10  etcd (Debian's etcd-server) and `mkpy up --store etcd://... --advertise-address`
                     with the PKI the host made (so the host knew the CA hash in advance), the join
                     token, a Deployment of 6 and its Service, a client pod per node, and
                     `kubectl logs/exec` through its API server to pods on the workers
  w1  .11, w2 .12    `mkpy node join` (retried until cp answers)
They coordinate through the API: cp writes the phase into ConfigMap mkpyt-mn-phase, workers
answer in ConfigMaps mkpyt-mn-result-<role>. Each VM writes <role>.json into RESULTS_DIR.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
import urllib.request

IPS = {"cp": "192.168.60.10", "w1": "192.168.60.11", "w2": "192.168.60.12"}
SERVER = f"https://{IPS['cp']}:6443"
MKPY = [sys.executable, "-m", "minikube_py"]
STATE = "/var/lib/mkpy"
# Everything inside a VM ends by then (the host's watchdog allows more): a stuck phase fails with
# its name instead of hanging CI. Each wait below may use all that is left: generous under load.
DEADLINE = float(os.environ.get("MKPY_UML_DEADLINE", "480"))
T0 = time.monotonic()
ETCD = "127.0.0.1:2379"


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def mkpy(*args: str, timeout: float = 400) -> str:
    res = subprocess.run([*MKPY, *args], capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"mkpy {' '.join(args)}: {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res.stdout


def until(what: str, fn, timeout: float = 300.0, every: float = 1.0):
    end = min(time.monotonic() + timeout, T0 + DEADLINE)
    last = None
    while time.monotonic() < end:
        try:
            got = fn()
            if got:
                return got
        except Exception as e:  # noqa: BLE001 - not yet
            last = e
        time.sleep(every)
    raise TimeoutError(f"{what}: not after {time.monotonic() - T0:.0f} s in this VM (last error: {last})")


def lan(role: str) -> None:
    from minikube_py.network.netns import open_iproute

    with open_iproute(None) as ipr:
        idx = ipr.link_lookup(ifname="eth0")[0]
        ipr.addr("add", index=idx, address=IPS[role], prefixlen=24)
        ipr.link("set", index=idx, state="up")
        lo = ipr.link_lookup(ifname="lo")[0]
        ipr.link("set", index=lo, state="up")
        # A real machine has a default route; ours has only the LAN. Service IPs need some route
        # (a packet is routed before nat OUTPUT rewrites its destination to a pod).
        ipr.route("add", dst="10.96.0.0/12", oif=idx)


def peer_routes() -> dict[str, str]:
    """This VM's routes to other nodes' pod CIDRs: {cidr: "via <ip>" | "vxlan <gw>"}."""
    from minikube_py.network.netns import open_iproute
    from minikube_py.network.node import RTPROT_MKPY

    with open_iproute(None) as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        out = {}
        for r in ipr.get_routes(family=2, table=254):
            if r["proto"] == RTPROT_MKPY:
                how = "vxlan " if names.get(r.get_attr("RTA_OIF")) == "mkpy.1" else "via "
                out[f"{r.get_attr('RTA_DST')}/{r['dst_len']}"] = how + r.get_attr("RTA_GATEWAY")
        return out


def http_names(url: str, tries: int = 30) -> list[str]:
    """GET the Service many times: each answer is the serving pod's name."""
    names = []
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                names.append(r.read().decode().strip())
        except OSError as e:
            names.append(f"error: {e}")
    return names


def dns_a(name: str, server: str = "10.96.0.10") -> list[str]:
    import socket

    import dnslib

    q = dnslib.DNSRecord.question(name)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(q.pack(), (server, 53))
            reply = dnslib.DNSRecord.parse(s.recv(4096))
    except OSError as e:
        return [f"error: {server}: {e}"]
    return [str(r.rdata) for r in reply.rr if r.rtype == dnslib.QTYPE.A]


def probe(client, svc_ip: str, gateway: str) -> dict:
    return {
        "http": http_names(f"http://{svc_ip}/"),
        "dns": dns_a("web.default.svc.cluster.local"),
        # the node's own DNS server (the proxy's, on the bridge address) answers for the cluster
        "dns_local": dns_a("web.default.svc.cluster.local", gateway),
    }


WEB = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 6,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "httpd",
                        "image": "busybox:latest",
                        "imagePullPolicy": "IfNotPresent",
                        "command": [
                            "sh",
                            "-c",
                            "mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www",
                        ],
                        "ports": [{"containerPort": 8080}],
                    }
                ],
            },
        },
    },
}
SVC = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
}


# One client pod per node (nodeName: even on the cordoned cp) resolves the Service's name with the
# cluster DNS and calls it, from inside the pod network. (busybox-static's nslookup and nc speak DNS
# and TCP themselves; its wget crashes under the UML kernels, so the HTTP request is written by hand.)
# The name is asked until it resolves (a loaded machine may be slow to start its DNS), then the
# Service is called 30 times; the pod prints it all and the control plane reads its log.
CLIENT_SH = (
    "n=web.default.svc.cluster.local; for t in $(seq 30); do out=$(nslookup $n 2>&1);"
    " ip=$(echo \"$out\" | awk '/^Address: /{a=$2} END{print a}'); [ -n \"$ip\" ] && break; sleep 1; done;"
    " echo \"$out\" | sed 's/^/dns: /';"
    " for i in $(seq 30); do r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 $ip 80 | tail -n 1);"
    " echo ${r:-error}; done; echo probe-done; exec sleep 3600"
)


def client_pod(node: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"client-{node}", "namespace": "default", "labels": {"app": "client"}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", CLIENT_SH]}],
        },
    }  # fmt: skip


def pod_probe(c, node: str) -> dict:
    """The client pod's answers, read with `pods/NAME/log` through the API server (so from the
    kubelet of `node`, another machine for w1/w2)."""
    text = until(
        f"client-{node} finished its probe (its log, through the API server)",
        lambda: (t := c.request("GET", f"/api/v1/namespaces/default/pods/client-{node}/log")) and
        "probe-done" in t and t,
        240,
        every=2,
    )  # fmt: skip
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return {
        "http": [x for x in lines if not x.startswith(("dns:", "probe-done"))],
        "dns": [x[4:].strip() for x in lines if x.startswith("dns:")],
    }


def use_kubectl() -> bool:
    return bool(shutil.which("kubectl")) and os.environ.get("MKPY_UML_TOOL") != "mkpy"


def kubectl(*args: str) -> str:
    """The real kubectl against cp's API server (HTTPS on the LAN address, admin token); where it is
    not installed, our own `mkpy logs/exec`, which speak the same API (and need the same path)."""
    if use_kubectl():
        argv = ["kubectl", "--kubeconfig", "/etc/mkpy/admin.kubeconfig", "--request-timeout", "60s", *args]
    else:
        argv = [*MKPY, args[0], "--kubeconfig", "/etc/mkpy/admin.kubeconfig", *args[1:]]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": "/tmp"})
    if res.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res.stdout


SHOW_NAME_AND_MTU = "hostname; cat /sys/class/net/eth0/mtu"


def remote_streams(c, spread: dict[str, list[str]]) -> dict:
    """`kubectl logs` and `kubectl exec` of a pod on each worker: the API server on cp reaches that
    worker's kubelet at its InternalIP over TLS with its client certificate."""
    out: dict = {"tool": "kubectl" if use_kubectl() else "mkpy"}
    for node in ("w1", "w2"):
        pod = spread[node][0]
        ips = {a["type"]: a["address"] for a in c.get("nodes", node)["status"]["addresses"]}
        annotations = c.get("nodes", node)["metadata"].get("annotations") or {}
        out[node] = {
            "pod": pod,
            "addresses": ips,
            "endpoint_annotation": annotations.get("mkpy.io/kubelet-endpoint"),
            "exec": until(f"kubectl exec {pod} on {node}",
                          lambda p=pod: kubectl("exec", p, "--", "sh", "-c", SHOW_NAME_AND_MTU),
                          120, every=3).split(),
            "logs": until(f"kubectl logs client-{node}",
                          lambda n=node: kubectl("logs", f"client-{n}", "--tail", "1"), 120, every=3).strip(),
        }  # fmt: skip
    return out


def start_etcd() -> None:
    """A one-member etcd inside this VM (dies with it); the API server keeps everything there."""
    os.makedirs("/tmp/etcd", exist_ok=True)
    log_file = open("/var/log/etcd.log", "wb")
    subprocess.Popen(["etcd", "--name", "cp", "--data-dir", "/tmp/etcd/data",
                      "--listen-client-urls", f"http://{ETCD}", "--advertise-client-urls", f"http://{ETCD}",
                      "--listen-peer-urls", "http://127.0.0.1:2380"],
                     stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    until("etcd healthy", lambda: urllib.request.urlopen(f"http://{ETCD}/health", timeout=2).read(), 60, 0.3)


def etcd_key_count() -> int:
    """How many keys the API server wrote to etcd (v3 JSON gateway, range over every key)."""
    import base64

    body = json.dumps({"key": base64.b64encode(b"\0").decode(), "range_end": base64.b64encode(b"\0").decode(),
                       "count_only": True}).encode()  # fmt: skip
    req = urllib.request.Request(f"http://{ETCD}/v3/kv/range", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return int(json.loads(r.read()).get("count", 0))


def running_by_node(c) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in c.list("pods", "default", label_selector="app=web")["items"]:
        ready = any(x["type"] == "Ready" and x["status"] == "True" for x in p["status"].get("conditions", []))
        if not p["metadata"].get("deletionTimestamp") and p["status"].get("phase") == "Running" and ready:
            out.setdefault(p["spec"]["nodeName"], []).append(p["metadata"]["name"])
    return out


def ready_nodes(c) -> set[str]:
    return {
        n["metadata"]["name"]
        for n in c.list("nodes")["items"]
        if any(x["type"] == "Ready" and x["status"] == "True" for x in n["status"].get("conditions", []))
    }


def set_phase(c, phase: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "mkpyt-mn-phase"},
        "data": {"phase": phase},
    }
    try:
        c.create(body)
    except Exception:  # noqa: BLE001 - exists: update it
        c.patch("configmaps", "mkpyt-mn-phase", {"data": {"phase": phase}}, "default")
    log(f"phase {phase}")


def control_plane(results: str, pki: str, token: str, out: dict) -> dict:
    """Fills `out` as it goes, so a failure still reports how far it got."""
    from minikube_py.api.client import Client

    shutil.copytree(pki, f"{STATE}/apiserver/pki")
    start_etcd()
    log("etcd up; mkpy up")
    mkpy("up", "--host-network", "--advertise-address", IPS["cp"], "--node-name", "cp", "--store", f"etcd://{ETCD}",
         "--node-monitor-grace-period", "15", "--pod-eviction-timeout", "2", "--timeout", "300")  # fmt: skip
    mkpy("token", "create", token, "--ttl", "0")
    c = Client.from_kubeconfig("/etc/mkpy/admin.kubeconfig")
    mkpy("node", "cordon", "cp")  # the Deployment goes to the workers
    until("w1 and w2 Ready", lambda: ready_nodes(c) >= {"w1", "w2"})
    log("workers Ready")
    out["cidrs"] = {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in c.list("nodes")["items"]}
    c.create(WEB)
    svc = c.create(SVC)
    out["spread"] = until(
        "6 pods running", lambda: (r := running_by_node(c)) and sum(map(len, r.values())) == 6 and r
    )
    log(f"spread {out['spread']}")
    until("endpoints", lambda: len(c.get("endpoints", "web")["subsets"][0]["addresses"]) == 6)
    out["svc_ip"] = svc["spec"]["clusterIP"]
    for node in ("cp", "w1", "w2"):
        c.create(client_pod(node))
    out["cp"] = probe(c, svc["spec"]["clusterIP"], "10.244.0.1")
    set_phase(c, "probe:" + svc["spec"]["clusterIP"])
    for w in ("w1", "w2"):
        out[w] = json.loads(
            until(f"{w}'s probe", lambda w=w: c.get("configmaps", f"mkpyt-mn-result-{w}")["data"]["r"])
        )
    out["pods"] = {node: pod_probe(c, node) for node in ("cp", "w1", "w2")}
    log("client pods probed")
    out["streams"] = remote_streams(c, out["spread"])
    log("kubectl logs/exec on the workers")
    out["etcd_keys"] = etcd_key_count()
    set_phase(c, "stop-w2")
    t = time.monotonic()
    until("w2 NotReady", lambda: any(x["type"] == "Ready" and x["status"] != "True"
                                     for x in c.get("nodes", "w2")["status"]["conditions"]), 120)  # fmt: skip
    out["not_ready_after"] = round(time.monotonic() - t, 1)
    out["after"] = until(
        "6 pods on w1",
        lambda: (r := running_by_node(c)) and list(r) == ["w1"] and len(r["w1"]) == 6 and r,
        180,
    )
    out["back_after"] = round(time.monotonic() - t, 1)
    set_phase(c, "done")
    # w1 must see "done" before this VM (and the API with it) goes away
    until("w1's goodbye", lambda: c.get("configmaps", "mkpyt-mn-bye-w1"), 60)
    return out


def phase_of(c) -> str:
    phase = c.get("configmaps", "mkpyt-mn-phase")["data"]["phase"]
    if phase == "failed":
        raise SystemExit("the control plane failed (see cp.json)")
    return phase


def worker(role: str, token: str, ca_hash: str) -> dict:
    from minikube_py.api.client import Client

    log("mkpy node join (until cp answers)")
    argv = ["node", "join", "--server", SERVER, "--token", token, "--ca-cert-hash", ca_hash,
            "--host-network", "--node-ip", IPS[role], "--node-name", role, "--timeout", "300",
            # w2 sends its pod traffic through VXLAN (cp and w1 stay on auto: host-gw on this LAN,
            # but they have the vxlan device and decapsulate what w2 sends)
            "--backend", "vxlan" if role == "w2" else "auto"]  # fmt: skip
    until("join", lambda: mkpy(*argv) or True, 400, every=3)
    c = Client.from_kubeconfig(f"{STATE}/node.kubeconfig")
    log("joined")
    phase = until("probe phase", lambda: phase_of(c).startswith("probe") and phase_of(c), 400)
    cidr = c.get("nodes", role)["spec"]["podCIDR"]
    r = probe(c, phase.split(":", 1)[1], str(next(ipaddress.ip_network(cidr).hosts())))  # the bridge
    r["routes"] = peer_routes()
    c.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"mkpyt-mn-result-{role}"},
              "data": {"r": json.dumps(r)}})  # fmt: skip
    want = "stop-w2" if role == "w2" else "done"
    until(want, lambda: phase_of(c) in (want, "done"), 400)
    log(f"leaving at {want}")  # w2: the VM powers off, like a machine losing power
    if role != "w2":
        c.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"mkpyt-mn-bye-{role}"}})
    return r


def main() -> int:
    role, results, pki, token = sys.argv[1:5]
    os.makedirs(results, exist_ok=True)
    out: dict = {}
    try:
        lan(role)
        subprocess.run([sys.executable, "-m", "minikube_py.image.baseimage", "--root", STATE], check=True,
                       capture_output=True)  # fmt: skip
        if role == "cp":
            control_plane(results, pki, token, out)
        else:
            from minikube_py.api import auth

            with open(os.path.join(pki, "ca.crt"), "rb") as f:
                out = worker(role, token, auth.ca_cert_hash(f.read()))
    except BaseException:  # noqa: BLE001 - reported to the host through the results file
        out["error"] = traceback.format_exc()
        if role == "cp":  # let the workers stop waiting
            try:
                from minikube_py.api.client import Client

                set_phase(Client.from_kubeconfig("/etc/mkpy/admin.kubeconfig"), "failed")
            except Exception:  # noqa: BLE001
                pass
        for path in [f"/var/log/mkpy/{comp}.log" for comp in
                     ("kubelet", "controller-manager", "apiserver", "supervisor", "proxy", "routes")] + [
                     "/var/log/etcd.log"]:  # fmt: skip
            comp = os.path.basename(path)[:-4]
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out.setdefault("logs", {})[comp] = f.read()[-3000:]
    with open(os.path.join(results, f"{role}.json"), "w") as f:
        json.dump(out, f)
    log("result written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
