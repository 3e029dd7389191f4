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
@click.option("--ca-file", default=os.path.join(auth.DEFAULT_PKI_DIR, "ca.crt"), show_default=True)
def token_create(kubeconfig: str, ttl: int, description: str, print_join_command: bool, ca_file: str) -> None:
    """Create a token and print it as <id>.<secret>."""
    from minikube_py.api.errors import ApiError

    from .tokens import create_token

    c = admin_client(kubeconfig)
    try:
        t = create_token(c, ttl, description)
    except ApiError as e:
        raise click.ClickException(f"{e.reason}: {e.message}") from None
    if not print_join_command:
        click.echo(t)
        return
    try:
        with open(ca_file, "rb") as f:
            ca_hash = auth.ca_cert_hash(f.read())
    except OSError as e:
        raise click.ClickException(f"--ca-file: {e}") from None
    click.echo(f"mkpy node join --server {c.server} --token {t} --ca-cert-hash {ca_hash}")


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


@click.command("ca-hash")
@click.option("--ca-file", default=os.path.join(auth.DEFAULT_PKI_DIR, "ca.crt"), show_default=True)
def ca_hash(ca_file: str) -> None:
    """Print the CA's public-key hash (what `node join --ca-cert-hash` wants)."""
    try:
        with open(ca_file, "rb") as f:
            click.echo(auth.ca_cert_hash(f.read()))
    except OSError as e:
        raise click.ClickException(f"--ca-file: {e}") from None


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
