"""`mkpy kubelet`: run the node agent, and look at what it runs.

    sudo mkpy kubelet --pod-manifest-path /etc/mkpy/manifests          # run (static pods)
    sudo mkpy kubelet pods                                              # like `kubectl get pods`
    sudo mkpy kubelet logs web-node1 -c app [--previous]
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

import click

DEFAULT_ROOT = "/var/lib/mkpy/kubelet"


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", default=DEFAULT_ROOT, show_default=True, help="kubelet state directory")
@click.option("--pod-manifest-path", default=None, help="directory of static pod manifests")
@click.option("--runtime-root", default=None, help="runtime state dir (default <root>/runtime)")
@click.option("--image-root", default=None, help="image store root (default $MKPY_ROOT or /var/lib/mkpy)")
@click.option("--log-root", default="/var/log/pods", show_default=True, help="where container logs go")
@click.option("--node-name", default=None, help="this node's name (default: the hostname)")
@click.option("--netns-dir", default="/run/netns", show_default=True)
@click.option("--netns-prefix", default="mkpy-pod-", show_default=True)
@click.option("--node-netns", default=None, help="a node network namespace name to wire pods into (CNI)")
@click.option("--node-host-network", is_flag=True,
              help="the node network is the host's own namespace (a lab VM; `mkpy up --host-network`)")
@click.option("--pod-cidr", default="10.244.0.0/24", show_default=True)
@click.option("--cluster-cidr", default=None,
              help="all nodes' pod network: traffic to it is not masqueraded (default: --pod-cidr)")
@click.option("--mtu", type=int, default=1500, show_default=True,
              help="the pods' MTU (1450 when pod traffic may go through VXLAN)")
@click.option("--node-ip", default=None,
              help="this node's LAN address (its InternalIP; other nodes route to it)")
@click.option("--cluster-dns", multiple=True, help="cluster DNS server for pods' resolv.conf")
@click.option("--backoff-initial", type=float, default=10.0, show_default=True)
@click.option("--backoff-max", type=float, default=300.0, show_default=True)
@click.option("--sync-period", type=float, default=0.5, show_default=True)
@click.option("--api-socket", default=None, help="the API server's unix socket (pods bound to this node)")
@click.option("--kubeconfig", default=None, help="a kubeconfig for the API server")
@click.option("--port", type=int, default=None,
              help="serve /metrics, /stats/summary, /pods, logs on 127.0.0.1:PORT")
@click.option("--eviction-hard", default=None,
              help="thresholds that put the node under pressure, e.g. "
                   "'memory.available<100Mi,nodefs.available<10%' (default: kubelet's; '' for none)")
@click.option("--eviction-pressure-transition-period", type=float, default=300.0, show_default=True,
              help="seconds a pressure condition stays true after its threshold was last met")
@click.option("--client-ca-file", default=None,
              help="with --node-host-network and --node-ip: serve HTTPS on NODE_IP:PORT to callers "
                   "with a certificate from this CA (default: the CA in --kubeconfig)")
@click.option("--drain", is_flag=True, help="terminate every pod this kubelet runs, then exit")
@click.option("-v", "--verbose", is_flag=True)
@click.pass_context
def kubelet(ctx: click.Context, root: str, pod_manifest_path: str | None, runtime_root: str | None,
            image_root: str | None, log_root: str, node_name: str | None, netns_dir: str, netns_prefix: str,
            node_netns: str | None, node_host_network: bool, pod_cidr: str, cluster_cidr: str | None,
            mtu: int, node_ip: str | None, cluster_dns: tuple[str, ...],
            backoff_initial: float,
            backoff_max: float, sync_period: float, api_socket: str | None, kubeconfig: str | None,
            port: int | None, client_ca_file: str | None, eviction_hard: str | None,
            eviction_pressure_transition_period: float, drain: bool, verbose: bool) -> None:
    """The node agent: run the pods meant for this node (static manifests work with no API server)."""
    ctx.obj = {"root": root, "log_root": log_root}
    if ctx.invoked_subcommand is not None:
        return
    from minikube_py.kubelet.kubelet import Kubelet, KubeletConfig, install_signal_handlers

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s kubelet %(levelname)s %(message)s")
    cfg = KubeletConfig(root=root, runtime_root=runtime_root or os.path.join(root, "runtime"),
                        image_root=image_root or os.environ.get("MKPY_ROOT") or "/var/lib/mkpy",
                        log_root=log_root, pod_manifest_path=pod_manifest_path, netns_dir=netns_dir,
                        netns_prefix=netns_prefix, cluster_dns=list(cluster_dns),
                        backoff_initial=backoff_initial, backoff_max=backoff_max, sync_period=sync_period)
    if node_name:
        cfg.node_name = node_name
    if eviction_hard is not None:
        from minikube_py.kubelet.eviction import EvictionError, split_flag

        try:
            cfg.eviction_hard = split_flag(eviction_hard)
        except EvictionError as exc:
            raise click.BadParameter(str(exc), param_hint="--eviction-hard") from None
    cfg.eviction_pressure_transition_period = eviction_pressure_transition_period
    if node_netns or node_host_network:
        from minikube_py.network import NodeNetwork

        cfg.node_network = NodeNetwork(node_netns or "host", pod_cidr, os.path.join(root, "network"),
                                       host_network=node_host_network, cluster_cidr=cluster_cidr,
                                       mtu=mtu).ensure()
    if node_ip:
        cfg.host_ips = [node_ip]
    api = objects = None
    if api_socket or kubeconfig:
        from minikube_py.api.client import Client
        from minikube_py.kubelet.apiclient import ApiObjects, NodeAPI

        client = Client.from_socket(api_socket) if api_socket else Client.from_kubeconfig(kubeconfig)
        api, objects = NodeAPI(client, cfg.node_name, cfg.host_ips), ApiObjects(client)
    k = Kubelet(cfg, objects=objects, api=api)
    if drain:
        k.relist()
        k.shutdown_pods()
        return
    install_signal_handlers(k)
    server = lan_server = None
    if port is not None:
        from minikube_py.kubelet.server import KubeletServer

        server = KubeletServer(k, port=port)
        port = server.start()
        click.echo(f"kubelet: serving on http://127.0.0.1:{port}", err=True)
        if node_host_network and node_ip and not node_ip.startswith("127."):
            # A machine of a multi-node cluster: the API server (maybe on another machine) reaches
            # us at InternalIP:port, over TLS, with its client certificate (kubelet/tls.py).
            from minikube_py.kubelet import tls

            pki = os.path.join(root, "pki")
            try:
                ca = client_ca_file or (tls.ca_from_kubeconfig(kubeconfig, os.path.join(pki, "client-ca.crt"))
                                        if kubeconfig else None)
                if not ca:
                    raise tls.KubeletTLSError("serving on --node-ip needs --client-ca-file or --kubeconfig")
                ctx = tls.server_context(*tls.ensure_self_signed(pki, cfg.node_name, [node_ip]), ca)
            except (tls.KubeletTLSError, OSError) as e:
                raise click.ClickException(str(e)) from None
            lan_server = KubeletServer(k, host=node_ip, port=port, ssl_context=ctx)
            lan_server.start()
            click.echo(f"kubelet: serving on https://{node_ip}:{port} (client certificates from {ca})",
                       err=True)
    if api is not None:
        api.serves_on_node_ip = lan_server is not None
        api.kubelet_port = port or 0
        api.addresses = cfg.host_ips
        api.start()        # registers the Node (with its kubelet port), then the lease and the pod watch
    try:
        k.run()
    finally:
        for srv in (lan_server, server):
            if srv is not None:
                srv.stop()
        if api is not None:
            api.stop()


def _records(root: str) -> list[tuple[dict, dict]]:
    out = []
    pods_dir = os.path.join(root, "pods")
    for uid in sorted(os.listdir(pods_dir)) if os.path.isdir(pods_dir) else []:
        try:
            with open(os.path.join(pods_dir, uid, "pod-with-status.json")) as f:
                obj = json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        out.append((obj, obj.get("status") or {}))
    return out


def _age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    import calendar

    secs = int(time.time() - calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")))
    return f"{secs}s" if secs < 120 else f"{secs // 60}m"


def pod_row(obj: dict, st: dict) -> list[str]:
    """NAME READY STATUS RESTARTS AGE, the way kubectl prints them."""
    cs = st.get("containerStatuses") or []
    ready = sum(1 for c in cs if c.get("ready"))
    reason = st.get("phase", "Pending")
    for c in cs:
        w = (c.get("state") or {}).get("waiting")
        t = (c.get("state") or {}).get("terminated")
        if (w and w.get("reason") not in (None, "ContainerCreating")) or (w and reason == "Pending"):
            reason = w["reason"]
        elif t and reason not in ("Running",):
            reason = t.get("reason", reason)
    for c in st.get("initContainerStatuses") or []:
        if not c.get("ready") and st.get("phase") == "Pending":
            total = len(st["initContainerStatuses"])
            done = sum(1 for x in st["initContainerStatuses"] if x.get("ready"))
            w = (c.get("state") or {}).get("waiting") or {}
            reason = f"Init:{w['reason']}" if w.get("reason") not in (None, "PodInitializing") \
                else f"Init:{done}/{total}"
            break
    restarts = sum(int(c.get("restartCount", 0)) for c in cs)
    return [obj["metadata"]["name"], f"{ready}/{len(cs)}", reason, str(restarts), _age(st.get("startTime"))]


@kubelet.command()
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def pods(ctx: click.Context, output: str) -> None:
    """The pods this node runs, with their status (from the kubelet's state dir)."""
    records = _records(ctx.obj["root"])
    if output == "json":
        click.echo(json.dumps({"kind": "PodList", "apiVersion": "v1", "items": [o for o, _ in records]}))
        return
    rows = [["NAME", "READY", "STATUS", "RESTARTS", "AGE"]] + [pod_row(o, s) for o, s in records]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        click.echo("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


@kubelet.command()
@click.argument("pod_name")
@click.option("-c", "--container", default=None)
@click.option("-p", "--previous", is_flag=True, help="the previous instance's log")
@click.option("-n", "--namespace", default="default")
@click.pass_context
def logs(ctx: click.Context, pod_name: str, container: str | None, previous: bool, namespace: str) -> None:
    """Print a container's log (the message part of each CRI-format line)."""
    for obj, st in _records(ctx.obj["root"]):
        m = obj["metadata"]
        if m["name"] != pod_name or m.get("namespace") != namespace:
            continue
        cs = {c["name"]: c for c in st.get("containerStatuses") or []}
        name = container or next(iter(cs), None)
        if name not in cs:
            raise click.ClickException(f"container {name!r} is not valid for pod {pod_name}")
        count = int(cs[name].get("restartCount", 0)) - (1 if previous else 0)
        if count < 0:
            raise click.ClickException(f"previous terminated container {name!r} not found")
        from minikube_py.kubelet.ociconfig import container_log_path

        path = container_log_path(obj, name, count, ctx.obj["log_root"])
        if not os.path.exists(path):
            raise click.ClickException(f"no log at {path}")
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 3)
                text = parts[3] if len(parts) == 4 else ""
                sys.stdout.write(text + ("\n" if parts[2:3] == ["F"] else ""))   # P: a partial line
        return
    raise click.ClickException(f'pods "{pod_name}" not found')


@kubelet.command()
@click.option("--interval", type=float, default=0.5, show_default=True,
              help="seconds between the two samples")
@click.pass_context
def top(ctx: click.Context, interval: float) -> None:
    """CPU and memory of each pod, from its cgroup (like `kubectl top pods`)."""
    from minikube_py.kubelet import qos
    from minikube_py.runtime.cgroups import open_cgroup

    records = _records(ctx.obj["root"])

    def sample() -> dict[str, dict]:
        out = {}
        for obj, _ in records:
            cg = open_cgroup(qos.pod_cgroup_parent(obj))
            out[obj["metadata"]["uid"]] = cg.stats() if cg.exists() else {}
        return out

    first, t0 = sample(), time.monotonic()
    time.sleep(interval)
    second, t1 = sample(), time.monotonic()
    rows = [["NAME", "CPU(cores)", "MEMORY(bytes)"]]
    for obj, _ in records:
        uid = obj["metadata"]["uid"]
        a, b = first.get(uid) or {}, second.get(uid) or {}
        cpu_ns = (b.get("cpu_usage_ns") or 0) - (a.get("cpu_usage_ns") or 0)
        millicores = max(0, round(cpu_ns / (t1 - t0) / 1e6))
        rows.append([obj["metadata"]["name"], f"{millicores}m", f"{(b.get('memory_usage') or 0) // 2**20}Mi"])
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        click.echo("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
