"""`mkpy ingress`: the ingress controller.

  mkpy ingress run --socket S --netns PATH --publish-ip IP    serve our Ingresses on port 80
  mkpy ingress routes FILE...                                  print the route table for Ingress YAML
"""

from __future__ import annotations

import click
import yaml

from minikube_py.network.ingress.errors import IngressError
from minikube_py.network.ingress.routing import CONTROLLER, RouteTable, is_ours
from minikube_py.network.proxy.cli import NETNS


@click.group("ingress")
def ingress() -> None:
    """An HTTP ingress controller (class `mkpy`, controller mkpy.io/ingress)."""


@ingress.command("routes")
@click.argument("files", nargs=-1, required=True, type=click.File())
def routes_cmd(files: tuple) -> None:
    """Print the routes the controller would build from the Ingresses (and IngressClasses) in FILES."""
    docs = [d for f in files for d in yaml.safe_load_all(f) if d]
    classes = [d for d in docs if d.get("kind") == "IngressClass"]
    ings = [d for d in docs if d.get("kind") == "Ingress"]
    for d in ings:
        d.setdefault("metadata", {}).setdefault("namespace", "default")
    table = RouteTable.build([i for i in ings if not classes or is_ours(i, classes)])
    wildcards = [(f"*{k}", v) for k, v in sorted(table.wildcard_hosts.items())]
    groups = [*sorted(table.exact_hosts.items()), *wildcards, ("*", table.any_host)]
    for host, routes in groups:
        for r in sorted(routes, key=lambda r: r.specificity(), reverse=True):
            click.echo(f"{host:30} {r.path_type:22} {r.path:20} -> {r.backend}   ({r.ingress})")
    if table.default:
        click.echo(f"{'(default backend)':30} {'':22} {'':20} -> {table.default}   ({table.default_ingress})")


@ingress.command("run")
@NETNS
@click.option("--socket", "socket_path", default=None, metavar="PATH", help="the API server's unix socket")
@click.option("--kubeconfig", default=None, metavar="PATH", help="or a kubeconfig for the API server")
@click.option("--listen", default="0.0.0.0:80", show_default=True, metavar="IP:PORT",
              help="where to serve HTTP (inside --netns)")
@click.option("--tls-listen", default=None, metavar="IP:PORT",
              help="also serve HTTPS here (e.g. 0.0.0.0:443), certificates from the Ingresses' spec.tls")
@click.option("--publish-ip", required=True, metavar="IP",
              help="the node address written to each Ingress's status.loadBalancer")
@click.option("--controller", default=CONTROLLER, show_default=True,
              help="serve IngressClasses with this spec.controller")
@click.option("--default-class", default=None, metavar="NAME",
              help="create IngressClass NAME (ours, marked default) unless it exists")
def run(netns: str | None, socket_path: str | None, kubeconfig: str | None, listen: str,
        tls_listen: str | None, publish_ip: str, controller: str, default_class: str | None) -> None:
    """Serve HTTP for our Ingresses until Ctrl-C / SIGTERM."""
    import logging
    import signal
    import threading

    from minikube_py.api.client import Client
    from minikube_py.network.ingress.controller import IngressController, ensure_class
    from minikube_py.network.ingress.controller import default_class as class_obj
    from minikube_py.network.ingress.server import IngressServer
    from minikube_py.network.ingress.tls import CertStore

    if not (socket_path or kubeconfig):
        raise click.UsageError("give --socket or --kubeconfig")
    addr = _address(listen, "--listen")
    tls_addr = _address(tls_listen, "--tls-listen") if tls_listen else None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    client = Client.from_socket(socket_path) if socket_path else Client.from_kubeconfig(kubeconfig)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    if default_class and ensure_class(client, class_obj(default_class, controller)):
        click.echo(f"created IngressClass {default_class} (controller {controller}, default)")
    certs = CertStore() if tls_addr else None
    ctl = IngressController(client, publish_ip, controller, certs)
    try:
        ctl.start()
    except TimeoutError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        server = IngressServer(ctl.current, ctl.service, ctl.endpoints, addr, netns, tls_addr, certs).start()
    except IngressError as exc:
        ctl.stop()
        raise click.ClickException(str(exc)) from None
    tls = f", HTTPS on {tls_listen}" if tls_listen else ""
    click.echo(f"ingress controller {controller}: HTTP on {listen}{tls} in {netns or 'this namespace'}, "
               f"status address {publish_ip}; Ctrl-C stops")
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
        ctl.stop()


def _address(value: str, option: str) -> tuple[str, int]:
    ip, _, port = value.rpartition(":")
    if not ip or not port.isdigit():
        raise click.BadParameter(f"{value!r} is not IP:PORT", param_hint=option)
    return ip, int(port)
