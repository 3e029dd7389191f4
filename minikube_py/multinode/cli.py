"""`mkpy token ...` (join tokens) and the node commands that need the API: join, cordon, drain.

sudo mkpy token create --print-join-command
sudo mkpy node join --server https://192.168.56.10:6443 --token abcdef.0123456789abcdef \\
     --ca-cert-hash sha256:...
mkpy node cordon w1 ; mkpy node drain w1 --ignore-daemonsets ; mkpy node uncordon w1
"""

from __future__ import annotations

import os
import socket
from typing import Any

import click

from minikube_py.api import auth

kubeconfig_option = click.option(
    "--kubeconfig",
    default=lambda: os.environ.get("KUBECONFIG", auth.DEFAULT_KUBECONFIG),
    show_default="$KUBECONFIG or " + auth.DEFAULT_KUBECONFIG,
)


def admin_client(kubeconfig: str) -> Any:
    from minikube_py.api.client import Client

    try:
        return Client.from_kubeconfig(kubeconfig)
    except (OSError, ValueError) as e:
        raise click.ClickException(f"--kubeconfig {kubeconfig}: {e}") from None


@click.group("token")
def token() -> None:
    """Bootstrap tokens: what a new machine shows to join the cluster."""


@token.command("create")
@kubeconfig_option
@click.option("--ttl", default=86400, show_default=True, help="seconds until it expires; 0 = never")
@click.option("--description", default="")
@click.option("--print-join-command", is_flag=True, help="print the whole `mkpy node join ...` line")
@click.option("--ca-file", default="", help="the cluster CA (default: the one in the kubeconfig)")
@click.option("--server", default="", help="the URL workers dial (default: the kubeconfig's server)")
@click.argument("given", required=False, default="")
def token_create(
    kubeconfig: str,
    ttl: int,
    description: str,
    print_join_command: bool,
    ca_file: str,
    server: str,
    given: str,
) -> None:
    """Create a token (GIVEN, else a random one) and print it as <id>.<secret>."""
    from minikube_py.api.errors import ApiError

    from .tokens import create_token

    if given:
        try:
            auth.split_token(given)
        except auth.TokenError as e:
            raise click.BadParameter(str(e), param_hint="GIVEN") from None
    c = admin_client(kubeconfig)
    try:
        t = create_token(c, ttl, description, given)
    except ApiError as e:
        raise click.ClickException(f"{e.reason}: {e.message}") from None
    if not print_join_command:
        click.echo(t)
        return
    ca_hash = auth.ca_cert_hash(_ca_pem(ca_file, kubeconfig))
    click.echo(f"mkpy node join --server {server or c.server} --token {t} --ca-cert-hash {ca_hash}")


@token.command("list")
@kubeconfig_option
def token_list(kubeconfig: str) -> None:
    from .tokens import list_tokens

    click.echo(f"{'ID':<8}{'EXPIRES':<24}DESCRIPTION")
    for t in list_tokens(admin_client(kubeconfig)):
        click.echo(f"{t['id']:<8}{t['expiration']:<24}{t['description']}")


@token.command("delete")
@kubeconfig_option
@click.argument("token_or_id")
def token_delete(kubeconfig: str, token_or_id: str) -> None:
    from minikube_py.api.errors import ApiError

    from .tokens import delete_token

    try:
        delete_token(admin_client(kubeconfig), token_or_id)
    except ApiError as e:
        raise click.ClickException(f"{e.reason}: {e.message}") from None
    click.echo(f"bootstrap token {token_or_id.split('.')[0]} deleted")


def _ca_pem(ca_file: str, kubeconfig: str) -> bytes:
    """The cluster CA: from --ca-file, else the admin kubeconfig's certificate-authority-data."""
    import base64

    import yaml

    try:
        if ca_file:
            with open(ca_file, "rb") as f:
                return f.read()
        with open(kubeconfig) as f:
            cfg = yaml.safe_load(f)
        data = cfg["clusters"][0]["cluster"]["certificate-authority-data"]
        return base64.b64decode(data)
    except OSError as e:
        raise click.ClickException(f"--ca-file: {e}") from None
    except (KeyError, IndexError, TypeError, ValueError):
        raise click.ClickException(
            f"--kubeconfig {kubeconfig}: no certificate-authority-data; give --ca-file"
        ) from None


@click.command("ca-hash")
@kubeconfig_option
@click.option("--ca-file", default="", help="the cluster CA (default: the one in the kubeconfig)")
def ca_hash(kubeconfig: str, ca_file: str) -> None:
    """Print the CA's public-key hash (what `node join --ca-cert-hash` wants)."""
    click.echo(auth.ca_cert_hash(_ca_pem(ca_file, kubeconfig)))


token.add_command(ca_hash)


def default_node_name() -> str:
    return socket.gethostname().lower()


# ---------------------------------------------------------------- node commands that need the API
# They join the network layer's `mkpy node` group (up/down/exec stay there); main.py's COMMANDS
# points "node" here so the group is loaded with them.
from minikube_py.network.cli import node  # noqa: E402


def _drain_error(e: Exception) -> click.ClickException:
    return click.ClickException(str(e))


@node.command("cordon")
@kubeconfig_option
@click.argument("name")
def cordon(kubeconfig: str, name: str) -> None:
    """Mark NAME unschedulable: no new pods go there."""
    from .drain import DrainError, set_unschedulable

    try:
        changed = set_unschedulable(admin_client(kubeconfig), name, True)
    except DrainError as e:
        raise _drain_error(e) from None
    click.echo(f"node/{name} {'cordoned' if changed else 'already cordoned'}")


@node.command("uncordon")
@kubeconfig_option
@click.argument("name")
def uncordon(kubeconfig: str, name: str) -> None:
    """Mark NAME schedulable again."""
    from .drain import DrainError, set_unschedulable

    try:
        changed = set_unschedulable(admin_client(kubeconfig), name, False)
    except DrainError as e:
        raise _drain_error(e) from None
    click.echo(f"node/{name} {'uncordoned' if changed else 'already uncordoned'}")


@node.command("drain")
@kubeconfig_option
@click.argument("name")
@click.option("--ignore-daemonsets", is_flag=True, help="skip DaemonSet pods instead of failing")
@click.option("--force", is_flag=True, help="also delete pods no controller will re-create")
@click.option("--delete-emptydir-data", is_flag=True, help="also evict pods with emptyDir volumes")
@click.option("--timeout", default=0.0, show_default=True, help="seconds to wait for the pods; 0 = forever")
@click.option("--grace-period", default=-1, show_default=True, help="seconds per pod; -1 = the pod's own")
def drain_cmd(
    kubeconfig: str,
    name: str,
    ignore_daemonsets: bool,
    force: bool,
    delete_emptydir_data: bool,
    timeout: float,
    grace_period: int,
) -> None:
    """Cordon NAME, then evict its pods (their controllers re-create them elsewhere)."""
    from minikube_py.api.errors import ApiError

    from .drain import DrainError, drain

    try:
        drain(
            admin_client(kubeconfig),
            name,
            ignore_daemonsets=ignore_daemonsets,
            force=force,
            delete_emptydir_data=delete_emptydir_data,
            timeout=timeout,
            grace_period=grace_period if grace_period >= 0 else None,
            say=click.echo,
        )
    except (DrainError, ApiError) as e:
        raise _drain_error(e) from None


@node.command("routes")
@click.option("--kubeconfig", default=None, help="the node's kubeconfig (or --socket)")
@click.option("--socket", "socket_path", default=None, help="the API server's unix socket")
@click.option("--node-name", default=lambda: socket.gethostname().lower(), show_default="the host name")
@click.option("--pod-cidr", required=True, help="this node's own pod CIDR (never routed away)")
@click.option("--node-netns", default=None, help="a node network namespace (default: the host's own)")
@click.option("--backend", type=click.Choice(["auto", "host-gw", "vxlan"]), default="host-gw",
              show_default=True, help="auto: host-gw to nodes on our L2 segment, VXLAN to the others")
@click.option("--node-ip", default="", help="our underlay address (the VXLAN tunnel's local end)")
def routes_cmd(
    kubeconfig: str | None, socket_path: str | None, node_name: str, pod_cidr: str, node_netns: str | None,
    backend: str, node_ip: str,
) -> None:
    """Keep a route to every other node's pod CIDR: host-gw via its InternalIP, or VXLAN (until SIGTERM)."""
    import logging
    import signal

    from minikube_py.api.client import Client
    from minikube_py.network import NodeNetwork

    from .routes import RouteAgent

    logging.basicConfig(level=logging.INFO, format="%(asctime)s routes %(levelname)s %(message)s")
    if not (kubeconfig or socket_path):
        raise click.UsageError("give --kubeconfig or --socket")
    client = Client.from_socket(socket_path) if socket_path else Client.from_kubeconfig(kubeconfig)
    # set_peer_routes needs only where to put the routes; nothing here is created.
    net = NodeNetwork(node_netns or "host", pod_cidr, "/nonexistent", host_network=node_netns is None)
    try:
        agent = RouteAgent(client, net, node_name, backend=backend, node_ip=node_ip)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.stop())
    try:
        agent.run()
    finally:
        agent.teardown()  # stopping (mkpy down): take our routes (and vxlan device) along


def _join_command():
    from minikube_py.cluster.cli import cluster_options

    @node.command("join")
    @cluster_options  # the same paths and names as `mkpy up` (--kubeconfig is ignored: see below)
    @click.option("--server", required=True, help="https://<control plane>:6443")
    @click.option("--token", "join_token", required=True, help="<id>.<secret> from `mkpy token create`")
    @click.option("--ca-cert-hash", required=True, help="sha256:<hex> from `mkpy token ca-hash`")
    @click.option(
        "--node-ip",
        default="",
        help="this node's LAN IP (with --host-network default: the address towards --server)",
    )
    @click.option("--timeout", type=float, default=120.0, show_default=True, help="seconds to wait for Ready")
    def join_cmd(
        server: str, join_token: str, ca_cert_hash: str, node_ip: str, timeout: float, **kwargs
    ) -> None:
        """Join this machine to a cluster as a worker: kubelet + proxy (+ host-gw routes) against --server."""
        from minikube_py.cluster import lifecycle
        from minikube_py.cluster.config import ClusterConfig, ClusterError

        from .join import JoinError, claim_pod_cidr, join, node_ip_towards

        if os.geteuid() != 0:
            raise click.ClickException("a node makes namespaces, mounts and cgroups: run it as root (sudo)")
        kwargs.pop("api_port", None)  # the API is the control plane's
        kwargs.pop("pod_cidr", None)  # the control plane assigns it (node IPAM)
        # A worker has no admin kubeconfig: the only one it keeps is its own, under its state root
        # (so `mkpy down` on a worker never removes the machine's /etc/mkpy/admin.kubeconfig).
        kwargs["kubeconfig"] = os.path.join(os.path.abspath(kwargs["state_root"]), "node.kubeconfig")
        try:
            cfg = ClusterConfig(
                role="worker",
                server=server.rstrip("/"),
                node_ip=node_ip or (node_ip_towards(server) if kwargs.get("host_network") else ""),
                **kwargs,
            )
            os.makedirs(cfg.state_root, exist_ok=True)
            join(cfg.server, join_token, ca_cert_hash, cfg.node_name, cfg.node_kubeconfig)
            click.echo(
                f"joined {cfg.server}: credential for system:node:{cfg.node_name} in {cfg.node_kubeconfig}"
            )
            cfg.pod_cidr = claim_pod_cidr(cfg.node_kubeconfig, cfg.node_name)
            click.echo(f"node {cfg.node_name}: pod CIDR {cfg.pod_cidr}, InternalIP {cfg.node_ip}")
            lifecycle.up(cfg, timeout=timeout, say=click.echo)
        except (JoinError, ClusterError) as e:
            raise click.ClickException(str(e)) from None
        click.echo(lifecycle.usage_hint(cfg))

    return join_cmd


join_cmd = _join_command()
