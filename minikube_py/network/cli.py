"""`mkpy node ...`: make a node's network namespace and work inside it.

sudo mkpy node up --pod-cidr 10.244.0.0/24     # netns mkpy-node, bridge mkpy0, masquerade
sudo mkpy node exec -- ip route                # any command, inside the node's namespace
sudo mkpy node shell                           # an interactive shell there
sudo mkpy node down
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from minikube_py.network.errors import NetworkError
from minikube_py.network.netns import NETNS_DIR, is_netns, netns_path

DEFAULT_NAME = os.environ.get("MKPY_NODE", "mkpy-node")
STATE = "/var/lib/mkpy/network"

name_option = click.option("--name", default=DEFAULT_NAME, show_default=True, help="node (netns) name")
dir_option = click.option("--netns-dir", default=NETNS_DIR, show_default=True, help="where netns files live")


@click.group()
def node() -> None:
    """The node's network namespace: create it, remove it, run commands inside it."""


@node.command()
@name_option
@dir_option
@click.option("--pod-cidr", default="10.244.0.0/24", show_default=True)
@click.option("--cluster-cidr", default=None, help="traffic to it is not masqueraded (default: pod CIDR)")
@click.option("--state-root", default=None, help=f"default {STATE}/<name>")
@click.option("--host-network", is_flag=True, help="use this namespace itself (only on a lab VM!)")
def up(
    name: str,
    netns_dir: str,
    pod_cidr: str,
    cluster_cidr: str | None,
    state_root: str | None,
    host_network: bool,
) -> None:
    """Create (or repair) the node's network namespace and its CNI configuration."""
    from minikube_py.network.node import NodeNetwork

    root = Path(state_root or f"{STATE}/{name}")
    try:
        n = NodeNetwork(name, pod_cidr, root, host_network, cluster_cidr=cluster_cidr, netns_dir=netns_dir)
        n.ensure()
        conf = n.write_conflist("mkpy")
    except NetworkError as exc:
        raise click.ClickException(str(exc)) from None
    (root / "node.json").write_text(
        json.dumps(
            {
                "name": name,
                "pod_cidr": pod_cidr,
                "cluster_cidr": cluster_cidr,
                "netns_dir": netns_dir,
                "host_network": host_network,
            }
        )
    )
    click.echo(f"{n}: bridge {n.bridge} {n.gateway}/{n.pod_cidr.prefixlen}; CNI config {conf}")


@node.command()
@name_option
@click.option("--state-root", default=None, help=f"default {STATE}/<name>")
def down(name: str, state_root: str | None) -> None:
    """Remove the node's namespace (and every pod interface in it) and its CNI state."""
    from minikube_py.network.node import NodeNetwork

    root = Path(state_root or f"{STATE}/{name}")
    try:
        saved = json.loads((root / "node.json").read_text())
    except FileNotFoundError:
        raise click.ClickException(
            f"no node {name!r} under {root} (was it made with `mkpy node up`?)"
        ) from None
    NodeNetwork(
        saved["name"],
        saved["pod_cidr"],
        root,
        saved["host_network"],
        cluster_cidr=saved["cluster_cidr"],
        netns_dir=saved["netns_dir"],
    ).destroy()
    (root / "node.json").unlink()
    click.echo(f"node network {name} removed")


@node.command()
@name_option
@dir_option
def status(name: str, netns_dir: str) -> None:
    """What is in the node's namespace: links (bridge ports with hairpin), addresses, routes."""
    from minikube_py.network.cni_plugin import brport_attr
    from minikube_py.network.netns import open_iproute

    path = netns_path(name, netns_dir)
    if not is_netns(path):
        raise click.ClickException(f"{path} is not a network namespace (run `mkpy node up --name {name}`)")
    click.echo(f"node network namespace {path}")
    with open_iproute(path) as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for link in ipr.get_links():
            idx = link["index"]
            addrs = [
                f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=idx, family=2)
            ]
            master = link.get_attr("IFLA_MASTER")
            hairpin = "on" if brport_attr(link, "IFLA_BRPORT_MODE") else "off"
            port = f" port of {names.get(master)} hairpin={hairpin}" if master else ""
            click.echo(
                f"  link {names[idx]:<16} {link.get_attr('IFLA_OPERSTATE'):<8} {' '.join(addrs)}{port}"
            )
        for r in ipr.get_routes(family=2, table=254):
            dst = f"{r.get_attr('RTA_DST') or '0.0.0.0'}/{r['dst_len']}"
            via = r.get_attr("RTA_GATEWAY")
            click.echo(
                f"  route {dst:<18} {'via ' + via if via else 'dev ' + str(names.get(r.get_attr('RTA_OIF')))}"
            )


def _enter(name: str, netns_dir: str) -> None:
    """Move this (single-threaded) process into the node's namespace; exec keeps it there."""
    from minikube_py.kernel import shim
    from minikube_py.kernel.syscalls import Syscalls

    path = netns_path(name, netns_dir)
    if not is_netns(path):
        raise click.ClickException(f"{path} is not a network namespace (run `mkpy node up --name {name}`)")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        Syscalls().setns(fd, shim.CLONE_NEWNET, why="run a command in the node's network", path=path)
    finally:
        os.close(fd)


@node.command("exec", context_settings={"ignore_unknown_options": True})
@name_option
@dir_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(name: str, netns_dir: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside the node's network namespace (put `--` before it)."""
    _enter(name, netns_dir)
    try:
        os.execvp(command[0], list(command))
    except OSError as exc:
        raise click.ClickException(f"{command[0]}: {exc.strerror}") from None


@node.command()
@name_option
@dir_option
def shell(name: str, netns_dir: str) -> None:
    """An interactive shell inside the node's network namespace."""
    _enter(name, netns_dir)
    sh = os.environ.get("SHELL", "/bin/sh")
    env = dict(os.environ, MKPY_NODE=name, PS1=f"[node {name}] \\w# ")
    os.execvpe(sh, [sh], env)
