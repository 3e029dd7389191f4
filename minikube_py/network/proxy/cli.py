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

NETNS = click.option("--netns", default=None, metavar="PATH",
                     help="node network namespace (/run/netns/NAME); default: this one")


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
