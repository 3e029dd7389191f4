"""`mkpy up`, `mkpy down`, `mkpy status`.

Every path and port has an option and an environment variable (MKPY_STATE_ROOT, MKPY_RUN_ROOT,
MKPY_LOG_DIR, MKPY_KUBECONFIG, MKPY_NODE_NETNS, MKPY_API_PORT, ...), so a test or a second
cluster on the same machine uses its own tmp dirs, netns and ports.
"""

from __future__ import annotations

import os

import click

from minikube_py.cluster.config import ClusterConfig, ClusterError

RUN_ROOT = click.option(
    "--run-root",
    default="/run/mkpy",
    show_default=True,
    envvar="MKPY_RUN_ROOT",
    help="where the running cluster keeps its sockets and pid files",
)


def cluster_options(f):
    d = ClusterConfig.__dataclass_fields__
    opts = [
        click.option(
            "--state-root", default=d["state_root"].default, show_default=True, envvar="MKPY_STATE_ROOT"
        ),
        RUN_ROOT,
        click.option("--log-dir", default=d["log_dir"].default, show_default=True, envvar="MKPY_LOG_DIR"),
        click.option(
            "--kubeconfig",
            default=d["kubeconfig"].default,
            show_default=True,
            envvar="MKPY_KUBECONFIG",
            help="the admin kubeconfig to write",
        ),
        click.option("--node-name", default="", envvar="MKPY_NODE_NAME", help="default: the host name"),
        click.option(
            "--node-netns",
            default=d["node_netns"].default,
            show_default=True,
            envvar="MKPY_NODE_NETNS",
            help="the node's network namespace",
        ),
        click.option(
            "--host-network",
            is_flag=True,
            envvar="MKPY_HOST_NETWORK",
            help="make the host itself the node (a dedicated lab VM only: it adds a bridge, "
            "routes and iptables rules to the host)",
        ),
        click.option(
            "--netns-prefix",
            default=d["netns_prefix"].default,
            show_default=True,
            envvar="MKPY_NETNS_PREFIX",
            help="pod network namespaces are /run/netns/<prefix>...",
        ),
        click.option(
            "--api-port", type=int, default=d["api_port"].default, show_default=True, envvar="MKPY_API_PORT"
        ),
        click.option(
            "--kubelet-port",
            type=int,
            default=d["kubelet_port"].default,
            show_default=True,
            envvar="MKPY_KUBELET_PORT",
        ),
        click.option("--pod-cidr", default=d["pod_cidr"].default, show_default=True),
        click.option(
            "--backend",
            type=click.Choice(["auto", "host-gw", "vxlan"]),
            default=d["backend"].default,
            show_default=True,
            envvar="MKPY_BACKEND",
            help="pod traffic to other nodes (with --host-network --node-ip): auto = host-gw on our L2 "
            "segment, VXLAN beyond it",
        ),
        click.option(
            "--lb-pool",
            default=d["lb_pool"].default,
            show_default=True,
            help="LoadBalancer IPs, on the node's network",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def multinode_options(f):
    """What `mkpy up` needs to be the control plane of several machines (docs/multi-node.md)."""
    d = ClusterConfig.__dataclass_fields__
    opts = [
        click.option(
            "--advertise-address",
            default="",
            envvar="MKPY_ADVERTISE_ADDRESS",
            help="this machine's LAN IP: the API then listens on every address (TLS + tokens)",
        ),
        click.option("--node-ip", default="", help="this node's LAN IP (default: --advertise-address)"),
        click.option(
            "--store",
            default="",
            envvar="MKPY_STORE",
            help="etcd://HOST:PORT[,HOST:PORT...] (default: SQLite under the state root)",
        ),
        click.option(
            "--node-monitor-grace-period",
            type=float,
            default=d["node_monitor_grace_period"].default,
            show_default=True,
            help="seconds without a heartbeat before a node is NotReady",
        ),
        click.option(
            "--pod-eviction-timeout",
            type=float,
            default=d["pod_eviction_timeout"].default,
            show_default=True,
            help="seconds a NotReady node keeps its pods",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _root() -> None:
    if os.geteuid() != 0:
        raise click.ClickException("a cluster makes namespaces, mounts and cgroups: run it as root (sudo)")


@click.command("up")
@cluster_options
@multinode_options
@click.option("--timeout", type=float, default=120.0, show_default=True, help="seconds to wait for Ready")
def up(timeout: float, **kwargs) -> None:
    """Start a single-node cluster: API server, controllers, scheduler, kubelet, proxy and DNS."""
    from minikube_py.cluster import lifecycle

    _root()
    try:
        cfg = ClusterConfig(**kwargs)
        lifecycle.up(cfg, timeout=timeout, say=click.echo)
    except ClusterError as exc:
        click.echo(lifecycle.log_tails(cfg), err=True)
        raise click.ClickException(str(exc)) from None
    click.echo(lifecycle.usage_hint(ClusterConfig.load(cfg.run_root)))


@click.command("down")
@RUN_ROOT
@click.option("--keep-state", is_flag=True, help="keep the state root (images, API store) for the next up")
def down(run_root: str, keep_state: bool) -> None:
    """Stop the cluster and remove every trace: processes, pods, mounts, netns, cgroups, rules, state."""
    from minikube_py.cluster import lifecycle

    _root()
    if not os.path.exists(os.path.join(run_root, "cluster.json")):
        click.echo(f"mkpy is not up (no {run_root}/cluster.json); nothing to do")
        return
    lifecycle.down(run_root, keep_state=keep_state, say=click.echo)
    click.echo("mkpy is down")


@click.command("status")
@RUN_ROOT
def status(run_root: str) -> None:
    """Which components run, and whether the node is Ready (exit 1 if anything is not)."""
    from minikube_py.cluster import lifecycle

    try:
        ok = lifecycle.status(run_root, say=click.echo)
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None
    raise SystemExit(0 if ok else 1)
