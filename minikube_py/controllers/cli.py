"""`mkpy controller-manager` and `mkpy scheduler`: run the loops standalone against a server."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import click


def _client(kubeconfig: str | None, socket_path: str | None) -> Any:
    from minikube_py.api.client import Client

    if socket_path:
        return Client.from_socket(socket_path)
    return Client.from_kubeconfig(kubeconfig)


def _run_until_signal(start, stop) -> None:
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    start()
    done.wait()
    stop()


_common = [
    click.option(
        "--kubeconfig", default=None, help="kubeconfig to reach the API server (default $KUBECONFIG)"
    ),
    click.option("--socket", "socket_path", default=None, help="or the API server's unix socket"),
    click.option("-v", "--verbose", is_flag=True),
]


def _options(f):
    for opt in reversed(_common):
        f = opt(f)
    return f


@click.command("controller-manager")
@_options
@click.option(
    "--controllers",
    default="all",
    show_default=True,
    help="comma list of deployment,replicaset,endpoints,namespace,garbagecollector,nodelifecycle,nodeipam",
)
@click.option(
    "--node-monitor-grace-period", default=40.0, show_default=True, help="seconds without a heartbeat"
)
@click.option(
    "--pod-eviction-timeout",
    default=300.0,
    show_default=True,
    help="seconds a pod stays on an unreachable node (without its own toleration)",
)
@click.option("--cluster-cidr", default="10.244.0.0/16", show_default=True, help="pod network of all nodes")
@click.option(
    "--node-cidr-mask-size", default=24, show_default=True, help="prefix length of each node's slice"
)
def controller_manager(
    kubeconfig: str | None,
    socket_path: str | None,
    verbose: bool,
    controllers: str,
    node_monitor_grace_period: float,
    pod_eviction_timeout: float,
    cluster_cidr: str,
    node_cidr_mask_size: int,
) -> None:
    """Run the reconcile loops (Deployment, ReplicaSet, Endpoints, Namespace, GC, node lifecycle)."""
    from .manager import ALL, ControllerManager

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    names = ALL if controllers == "all" else tuple(c.strip() for c in controllers.split(",") if c.strip())
    try:
        cm = ControllerManager(
            controllers=names,
            node_grace_period=node_monitor_grace_period,
            pod_eviction_timeout=pod_eviction_timeout,
            cluster_cidr=cluster_cidr,
            node_cidr_mask=node_cidr_mask_size,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--controllers/--cluster-cidr") from None
    client = _client(kubeconfig, socket_path)
    _run_until_signal(lambda: cm.start(client), cm.stop)


@click.command("scheduler")
@_options
def scheduler(kubeconfig: str | None, socket_path: str | None, verbose: bool) -> None:
    """Run the scheduler: bind pending pods to nodes."""
    from minikube_py.scheduler import Scheduler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    s = Scheduler()
    client = _client(kubeconfig, socket_path)
    _run_until_signal(lambda: s.start(client), s.stop)
