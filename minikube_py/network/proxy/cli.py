"""`mkpy proxy`: look at the service proxy's rules.

  mkpy proxy render svc.yaml ...        the iptables-restore text for these Services/Endpoints (no kernel)
  mkpy proxy show --netns PATH          the live KUBE-* nat and filter rules of a node namespace
  mkpy proxy walk --netns PATH IP PORT  the chains a new connection to IP:PORT walks through
"""

from __future__ import annotations

import click
import yaml

from minikube_py.network.proxy.errors import ProxyError
from minikube_py.network.proxy.iptables import detect
from minikube_py.network.proxy.proxier import Proxier
from minikube_py.network.proxy.rules import render as render_rules
from minikube_py.network.proxy.source import ClusterObjects
from minikube_py.network.proxy.walk import walk as walk_chains


def _netns_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # A bare name means /run/netns/<name>, as `ip netns` and `mkpy node --name` use it.
    return value if value is None or "/" in value else f"/run/netns/{value}"


NETNS = click.option("--netns", default=None, metavar="PATH|NAME", callback=_netns_path,
                     help="node network namespace (/run/netns/NAME or NAME); default: this one")


@click.group("proxy")
def proxy() -> None:
    """The kube-proxy style service rules (iptables mode)."""


@proxy.command("render")
@click.argument("files", nargs=-1, required=True, type=click.File())
@click.option("--cluster-cidr", default=None, help="pod network CIDR (masquerade off-cluster sources)")
def render_cmd(files: tuple, cluster_cidr: str | None) -> None:
    """Print the ruleset for the Services and Endpoints in FILES (YAML, several documents allowed)."""
    objects = ClusterObjects()
    for f in files:
        for doc in yaml.safe_load_all(f):
            if doc and doc.get("kind") in ("Service", "Endpoints"):
                objects.apply(doc["kind"], doc)
    proxier = Proxier(objects, None, cluster_cidr=cluster_cidr, iptables=None)
    try:
        click.echo(render_rules(proxier.service_ports(), cluster_cidr).text(), nl=False)
    except ProxyError as exc:
        raise click.ClickException(str(exc)) from None
    for err in proxier.errors:
        click.echo(f"skipped: {err}", err=True)


@proxy.command("show")
@NETNS
def show(netns: str | None) -> None:
    """Print the live KUBE-* rules (nat and filter) of a node namespace."""
    try:
        ipt = detect(netns)
        for table in ("nat", "filter"):
            click.echo(f"*{table}  (iptables-{ipt.backend})")
            for line in ipt.save(table).splitlines():
                if "KUBE-" in line:
                    click.echo(line)
    except ProxyError as exc:
        raise click.ClickException(str(exc)) from None


@proxy.command("walk")
@NETNS
@click.argument("ip")
@click.argument("port", type=int)
@click.option("--proto", default="tcp", type=click.Choice(["tcp", "udp", "sctp"]))
def walk(netns: str | None, ip: str, port: int, proto: str) -> None:
    """Show the chains a new connection to IP PORT walks through in the nat table."""
    try:
        lines = walk_chains(detect(netns).save("nat"), ip, port, proto)
    except ProxyError as exc:
        raise click.ClickException(str(exc)) from None
    if not lines:
        raise click.ClickException(f"no service rule for {ip}:{port}/{proto} in KUBE-SERVICES")
    click.echo("\n".join(lines))


@proxy.command("run")
@NETNS
@click.option("--socket", "socket_path", default=None, metavar="PATH", help="the API server's unix socket")
@click.option("--kubeconfig", default=None, metavar="PATH", help="or a kubeconfig for the API server")
@click.option("--cluster-cidr", default=None, help="pod network CIDR, e.g. 10.244.0.0/16")
@click.option("--lb-pool", default=None,
              help="LoadBalancer addresses on the node's network, e.g. A-B or CIDR")
@click.option("--dns-listen", default=None, metavar="IP[:PORT]",
              help="also serve cluster DNS here (in the node namespace) and publish kube-system/kube-dns")
@click.option("--dns-upstream", multiple=True, metavar="IP[:PORT]",
              help="where other names go (repeatable; default: /etc/resolv.conf's non-loopback servers)")
@click.option("--cluster-dns", default="10.96.0.10", help="ClusterIP of kube-dns")
@click.option("--policies/--no-policies", default=True, help="enforce NetworkPolicies")
@click.option("--node-name", default=None, help="this node's name: its endpoints are the local ones")
def run(netns: str | None, socket_path: str | None, kubeconfig: str | None, cluster_cidr: str | None,
        lb_pool: str | None, dns_listen: str | None, dns_upstream: tuple[str, ...], cluster_dns: str,
        policies: bool, node_name: str | None) -> None:
    """Run the node's service proxy (and DNS, NetworkPolicy) from the API until Ctrl-C / SIGTERM."""
    import signal
    import threading

    # The command is an API client user: it alone imports the client; the layer below takes any
    # object with list/watch/patch.
    from minikube_py.api.client import Client
    from minikube_py.network.proxy.lb import publish_status
    from minikube_py.network.proxy.proxier import ProxyLoop
    from minikube_py.network.proxy.source import Follower, SyncLoop

    if not (socket_path or kubeconfig):
        raise click.UsageError("give --socket or --kubeconfig")
    client = Client.from_socket(socket_path) if socket_path else Client.from_kubeconfig(kubeconfig)
    objects = ClusterObjects()
    kinds = ["Service", "Endpoints"] + (["Pod", "Namespace", "NetworkPolicy"] if policies else [])
    proxier = Proxier(objects, netns, cluster_cidr=cluster_cidr, lb_pool=lb_pool, node_name=node_name)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    started: list = []
    try:
        if dns_listen:
            from minikube_py.network.dns import ClusterDNS, kube_dns_objects

            ip, _, port = dns_listen.partition(":")
            if not dns_upstream:  # the host's resolvers, unless they are on its own loopback
                from minikube_py.network.dns.resolvconf import parse

                with open("/etc/resolv.conf") as f:
                    dns_upstream = tuple(ns for ns in parse(f.read())[0] if not ns.startswith("127."))
            ups = [(u.partition(":")[0], int(u.partition(":")[2] or 53)) for u in dns_upstream]
            started.append(ClusterDNS(objects, (ip, int(port or 53)), netns=netns, upstreams=ups).start())
            _ensure_kube_dns(client, *kube_dns_objects(ip, cluster_dns, int(port or 53)))
        follower = Follower(client, objects, kinds).start()
        started.append(follower)
        if not follower.wait_synced(30):
            raise click.ClickException(f"could not list from the API server: {follower.errors[-1:]}")
        started.append(ProxyLoop(proxier, after_sync=lambda p: publish_status(client, objects,
                                                                             p.load_balancer_ips())).start())
        if policies:
            from minikube_py.network.policy import PolicyEnforcer

            enforcer = PolicyEnforcer(objects, netns, iptables=proxier.iptables)
            started.append(SyncLoop(objects, ("Pod", "Namespace", "NetworkPolicy"), enforcer.sync,
                                    name="mkpy-policy").start())
        click.echo(f"proxying in {netns or 'this namespace'} (iptables-{proxier.iptables.backend});"
                   " Ctrl-C stops")
        while not stopping.wait(0.5):
            pass
    finally:
        for part in reversed(started):
            part.stop()
        proxier.teardown()
        if policies:
            from minikube_py.network.policy import PolicyEnforcer

            PolicyEnforcer(objects, netns, iptables=proxier.iptables).teardown()


def _ensure_kube_dns(client: object, svc: dict, eps: dict) -> None:
    """Create kube-system/kube-dns (Service and Endpoints) unless they exist."""
    from minikube_py.api.errors import ApiError

    for obj in (svc, eps):
        kind = "services" if obj["kind"] == "Service" else "endpoints"
        try:  # another node's proxy may have published it (a second create would clash on the IP)
            client.get(kind, obj["metadata"]["name"], "kube-system")  # type: ignore[attr-defined]
            continue
        except ApiError as exc:
            if exc.code != 404:
                raise
        try:
            client.create(obj)  # type: ignore[attr-defined]
        except ApiError as exc:
            if exc.code != 409:  # 409 AlreadyExists: someone published it already
                raise
