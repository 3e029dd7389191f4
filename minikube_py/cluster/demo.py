"""The guide's Part 1, for real: build, push, `mkpy up`, apply, roll out, call the Service.

Each step prints what a student would type with docker/kubectl, then does it with this project's
own parts: the image builder and registry client (minikube_py.image), `mkpy up`, and the API
client (what kubectl would send). Everything is idempotent, so a second run reuses the build
cache, the running registry and the running cluster, and finishes in seconds.
"""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from minikube_py.cluster import lifecycle, registry
from minikube_py.cluster.config import ClusterConfig, ClusterError

IMAGE = "myregistry.com/myapp:v1.0"
REGISTRY_NAME = "myregistry.com"

Say = Callable[[str], None]


def examples_dir() -> Path:
    """The guide's files, copied unchanged into the repository's examples/seed."""
    return Path(__file__).resolve().parents[2] / "examples" / "seed"


def step(say: Say, title: str, command: str = "") -> None:
    say(f"\n==> {title}" + (f"\n    $ {command}" if command else ""))


def build_and_push(cfg: ClusterConfig, registry_port: int, seed: Path, say: Say) -> str:
    """docker build + docker push, with a builder store of its own: the kubelet's store (the state
    root) does not have the image, so the node really pulls it from the registry."""
    from minikube_py.image import baseimage
    from minikube_py.image.store import ImageStore

    step(
        say,
        "Start a local registry and map myregistry.com to it (a hosts.toml mirror)",
        f"docker-registry on 127.0.0.1:{registry_port}",
    )
    if not os.path.exists(cfg.config_file):
        cfg.save()  # from here on, `mkpy down` knows where everything is (the registry included)
    url = registry.start(cfg, registry_port)
    hosts = registry.map_name(cfg, REGISTRY_NAME, url)
    say(f"    {REGISTRY_NAME} -> {url}   ({hosts})")
    builder_root = os.path.join(cfg.state_root, "builder")
    store = ImageStore(builder_root, hosts_dir=cfg.hosts_dir)
    if not store.exists("busybox:latest"):
        # The app's base image, made offline from Debian's busybox-static (rootfs/build.sh).
        baseimage.main(["--root", builder_root])
    step(say, "Containerize the application", f"docker build -t {IMAGE} {seed / 'app'}")
    image = store.build(str(seed / "app"), tags=[IMAGE], out=lambda line: say(f"    {line}"))
    step(say, "Push it to the registry", f"docker push {IMAGE}")
    store.push(IMAGE)
    say(f"    pushed {IMAGE} ({image.id[:19]})")
    return url


def apply(client, path: Path, say: Say) -> dict:
    """kubectl apply -f: create, or leave the live object alone when it exists already."""
    from minikube_py.api.errors import ApiError

    obj = yaml.safe_load(path.read_text())
    kind, name = obj["kind"].lower(), obj["metadata"]["name"]
    try:
        client.create(obj)
        say(f"    {kind}/{name} created")
    except ApiError as exc:
        if exc.code != 409:
            raise
        say(f"    {kind}/{name} unchanged (it exists already)")
    return obj


def wait_rollout(client, name: str, say: Say, timeout: float = 180.0) -> None:
    """kubectl rollout status: until every replica is updated, ready and available."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        d = client.get("deployments", name)
        want = d["spec"].get("replicas", 1)
        st = d.get("status") or {}
        ready = st.get("readyReplicas", 0)
        if ready != last:
            say(f"    {ready} of {want} replicas ready")
            last = ready
        if (
            st.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
            and st.get("updatedReplicas", 0) == want
            and ready == want
            and st.get("availableReplicas", 0) == want
        ):
            say(f'    deployment "{name}" successfully rolled out')
            return
        if time.monotonic() > deadline:
            pods = client.list("pods", "default", label_selector="app=myapp")["items"]
            detail = "; ".join(f"{p['metadata']['name']}: {p.get('status', {}).get('phase')}" for p in pods)
            raise ClusterError(f"rollout of {name} not done after {timeout:.0f} s ({detail})")
        time.sleep(0.3)


def http_get_in_netns(netns: str | None, ip: str, port: int, timeout: float = 3.0) -> str:
    """GET http://ip:port/ from a thread inside the node's network namespace (setns is per thread),
    the way a process on the node would; service IPs exist only there."""
    from minikube_py.network.netns import run_in_netns

    def get() -> str:
        conn = http.client.HTTPConnection(ip, port, timeout=timeout)
        try:
            conn.request("GET", "/")
            return conn.getresponse().read().decode().strip()
        finally:
            conn.close()

    return run_in_netns(netns, get)


def call_service(
    cfg: ClusterConfig, ip: str, port: int, want: set[str], say: Say, tries: int = 60
) -> set[str]:
    """Request ip:port until every pod in `want` has answered (or `tries` run out)."""
    seen: set[str] = set()
    for i in range(tries):
        try:
            answer = http_get_in_netns(cfg.node_netns_path, ip, port)
        except OSError as exc:
            answer = f"({exc})"
        pod = answer.removeprefix("hello from ").strip()
        new = pod in want and pod not in seen
        if pod in want:
            seen.add(pod)
        if new or i < 3:
            say(f"    {answer}")
        if want <= seen:
            break
        time.sleep(0.05)
    say(f"    -> answers from {len(seen & want)} of {len(want)} pods in {i + 1} requests")
    return seen & want


def wait_for(fn: Callable[[], object], what: str, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out waiting for {what}")
        time.sleep(0.2)


def print_table(
    client,
    plural: str,
    say: Say,
    namespace: str = "default",
    wide: bool = False,
    items: list[dict] | None = None,
    prefix: str = "",
) -> None:
    """kubectl get: the API server's own printer columns (minikube_py/api/tables.py)."""
    from minikube_py.api import tables

    res = client.resource(plural)
    cols = [i for i, c in enumerate(tables.columns_for(res)) if wide or not c.get("priority")]
    rows = [[tables.columns_for(res)[i]["name"].upper() for i in cols]]
    for obj in items if items is not None else client.list(plural, namespace)["items"]:
        cells = tables.row_for(res, obj)
        rows.append([prefix + str(cells[i]) if i == 0 else str(cells[i]) for i in cols])
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    for r in rows:
        say("    " + "   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def top_pods(pods: list[dict], say: Say, interval: float = 0.5) -> None:
    """kubectl top pods: CPU and memory from each pod's cgroup, sampled twice."""
    from minikube_py.kubelet import qos
    from minikube_py.runtime.cgroups import open_cgroup

    def sample() -> dict[str, dict]:
        out = {}
        for p in pods:
            cg = open_cgroup(qos.pod_cgroup_parent(p))
            out[p["metadata"]["uid"]] = cg.stats() if cg.exists() else {}
        return out

    a, t0 = sample(), time.monotonic()
    time.sleep(interval)
    b, t1 = sample(), time.monotonic()
    say(f"    {'NAME':<40} {'CPU(cores)':<11} MEMORY(bytes)")
    for p in pods:
        uid = p["metadata"]["uid"]
        cpu = ((b.get(uid) or {}).get("cpu_usage_ns") or 0) - ((a.get(uid) or {}).get("cpu_usage_ns") or 0)
        mem = ((b.get(uid) or {}).get("memory_usage") or 0) // 2**20
        say(f"    {p['metadata']['name']:<40} {max(0, round(cpu / (t1 - t0) / 1e6))}m{'':<9} {mem}Mi")


def describe_pod(client, pod: dict, say: Say) -> None:
    """The heart of kubectl describe pod: where it runs, its container, conditions, its events."""
    m, spec, st = pod["metadata"], pod["spec"], pod.get("status") or {}
    c = spec["containers"][0]
    cs = next(iter(st.get("containerStatuses") or []), {})
    state = next(iter(cs.get("state") or {}), "unknown")
    for k, v in [
        ("Name", m["name"]),
        ("Namespace", m["namespace"]),
        ("Node", spec.get("nodeName")),
        ("Start Time", st.get("startTime")),
        ("Labels", ",".join(f"{k}={v}" for k, v in (m.get("labels") or {}).items())),
        ("Status", st.get("phase")),
        ("IP", st.get("podIP")),
        ("Controlled By", ", ".join(f"{o['kind']}/{o['name']}" for o in m.get("ownerReferences") or [])),
        ("Container", f"{c['name']}  image {c['image']}  port {c['ports'][0]['containerPort']}/TCP"),
        ("  State", f"{state.capitalize()} (restarts {cs.get('restartCount', 0)})"),
        ("  Image ID", cs.get("imageID")),
        ("Conditions", " ".join(f"{x['type']}={x['status']}" for x in st.get("conditions") or [])),
        ("QoS Class", st.get("qosClass")),
    ]:
        say(f"    {k + ':':<15} {v}")
    say("    Events:")
    evs = client.list("events", m["namespace"], field_selector=f"involvedObject.name={m['name']}")["items"]
    for e in sorted(evs, key=lambda e: e["metadata"]["creationTimestamp"]):
        say(
            f"      {e.get('type', ''):<8} {e.get('reason', ''):<10} "
            f"{e.get('source', {}).get('component', ''):<9}"
            f" {e.get('message', '')}"
        )


def run(
    cfg: ClusterConfig, registry_port: int, seed: Path | None = None, say: Say = print, timeout: float = 180.0
) -> dict:
    """The whole Part 1. Returns figures (seconds per phase, the pods that answered) for tests."""
    from minikube_py.api.client import Client

    seed = seed or examples_dir()
    figures: dict = {}
    t0 = time.monotonic()
    build_and_push(cfg, registry_port, seed, say)
    figures["build_push"] = time.monotonic() - t0

    step(say, "Start the cluster", "mkpy up")
    figures["up"] = lifecycle.up(cfg, timeout=timeout, say=lambda s: say(f"    {s}"))
    client = Client.from_kubeconfig(cfg.kubeconfig)  # as kubectl: TLS + the admin token

    step(say, "Deploy", f"kubectl apply -f {seed / 'deployment.yaml'} -f {seed / 'service.yaml'}")
    t1 = time.monotonic()
    apply(client, seed / "deployment.yaml", say)
    apply(client, seed / "service.yaml", say)
    step(say, "Wait for the rollout", "kubectl rollout status deployment/myapp-deployment")
    wait_rollout(client, "myapp-deployment", say, timeout)
    figures["rollout"] = time.monotonic() - t1

    pods = client.list("pods", "default", label_selector="app=myapp")["items"]
    pods = [
        p
        for p in pods
        if (p.get("status") or {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]
    names = {p["metadata"]["name"] for p in pods}
    svc = wait_for(
        lambda: (lambda s: s if (s.get("status") or {}).get("loadBalancer", {}).get("ingress") else None)(
            client.get("services", "myapp-service")
        ),
        "the LoadBalancer IP of myapp-service",
    )
    wait_for(
        lambda: (
            sum(
                len(s.get("addresses") or [])
                for s in client.get("endpoints", "myapp-service").get("subsets") or []
            )
            >= len(names)
        ),
        "the Service's endpoints",
    )
    cluster_ip, lb_ip = svc["spec"]["clusterIP"], svc["status"]["loadBalancer"]["ingress"][0]["ip"]
    port = svc["spec"]["ports"][0]["port"]
    where = f"mkpy node exec --name {cfg.node_netns} --" if cfg.node_netns_path else ""
    step(
        say,
        "Call the Service through its ClusterIP, from the node",
        f"{where} wget -qO- http://{cluster_ip}:{port}/",
    )
    figures["cluster_ip_pods"] = call_service(cfg, cluster_ip, port, names, say)
    step(say, "... and through its LoadBalancer IP", f"{where} wget -qO- http://{lb_ip}:{port}/")
    figures["lb_pods"] = call_service(cfg, lb_ip, port, names, say)
    figures.update(cluster_ip=cluster_ip, lb_ip=lb_ip, pods=names)

    step(say, "Look at it", "kubectl get pods,services -o wide")
    print_table(client, "pods", say, wide=True, items=pods, prefix="pod/")
    say("")
    print_table(client, "services", say, prefix="service/")
    first = sorted(pods, key=lambda p: p["metadata"]["name"])[0]
    step(say, "Logs", f"kubectl logs {first['metadata']['name']}")
    text = client.request("GET", f"/api/v1/namespaces/default/pods/{first['metadata']['name']}/log")
    say("    " + (text.strip().replace("\n", "\n    ") if text and text.strip() else "(httpd logs nothing)"))
    step(say, "Describe a pod", f"kubectl describe pod {first['metadata']['name']}")
    describe_pod(client, client.get("pods", first["metadata"]["name"]), say)
    step(say, "Resource use", "kubectl top pods")
    top_pods(pods, say)
    step(say, "Events, oldest first", "kubectl get events --sort-by=.metadata.creationTimestamp")
    events = sorted(
        client.list("events", "default")["items"], key=lambda e: e["metadata"]["creationTimestamp"]
    )
    print_table(client, "events", say, items=events[-25:])
    figures["total"] = time.monotonic() - t0
    return figures


def next_steps(cfg: ClusterConfig) -> str:
    rr = "" if cfg.run_root == "/run/mkpy" else f" --run-root {cfg.run_root}"
    return f"""
The cluster is still running. Try:
    export KUBECONFIG={cfg.kubeconfig}
    kubectl get pods,services,endpoints -o wide
    kubectl scale deployment myapp-deployment --replicas=5
    kubectl delete pod <a pod>            # the ReplicaSet makes a new one
    kubectl logs deployment/myapp-deployment
    mkpy proxy show --netns {cfg.node_netns_path or "-"}     # the Service's iptables rules
    mkpy status{rr}
    mkpy down{rr}                         # stop it all and remove every trace"""
