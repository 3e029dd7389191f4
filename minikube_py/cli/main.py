"""`mkpy`: the student's entry point.

Sub-commands are loaded lazily, by name, from the module that owns them, so
`mkpy runtime state ID` does not pay for importing the API server, and so each
layer keeps its CLI next to its code. To add a group, add one line to COMMANDS.
"""

from __future__ import annotations

import importlib

import click

import minikube_py

# name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "cgroups": "minikube_py.cli.security:cgroups",
    "seccomp": "minikube_py.cli.security:seccomp",
    "version": "minikube_py.cli.main:version",
    "demo": "minikube_py.cli.demo:demo",
    "node": "minikube_py.multinode.cli:node",  # network.cli:node + join/cordon/drain
    "token": "minikube_py.multinode.cli:token",
    "apiserver": "minikube_py.api.cli:apiserver",
    "controller-manager": "minikube_py.controllers.cli:controller_manager",
    "scheduler": "minikube_py.controllers.cli:scheduler",
    "image": "minikube_py.image.cli:image",
    "kubelet": "minikube_py.kubelet.cli:kubelet",
    "proxy": "minikube_py.network.proxy.cli:proxy",
    "ingress": "minikube_py.network.ingress.cli:ingress",
    "up": "minikube_py.cluster.cli:up",
    "down": "minikube_py.cluster.cli:down",
    "status": "minikube_py.cluster.cli:status",
    # kubectl's verbs, speaking only to the API server (docs/cli.md)
    "get": "minikube_py.cli.kubectl_get:get",
    "apply": "minikube_py.cli.apply:apply",
    "create": "minikube_py.cli.apply:create",
    "delete": "minikube_py.cli.apply:delete",
    "scale": "minikube_py.cli.apply:scale",
    "rollout": "minikube_py.cli.rollout:rollout",
    "describe": "minikube_py.cli.describe:describe",
    "explain": "minikube_py.cli.describe:explain",
    "logs": "minikube_py.cli.logs:logs",
    "exec": "minikube_py.cli.exec:exec_",
    "top": "minikube_py.cli.top:top",
    "port-forward": "minikube_py.cli.portforward:port_forward",
    "runtime": "minikube_py.runtime.commands:runtime",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(minikube_py.__version__, prog_name="mkpy")
# kubectl's global flags may also come before the verb: `mkpy -n kube-system get pods`.
@click.option("--kubeconfig", help="kubeconfig for the kubectl verbs (get, apply, logs, ...).")
@click.option("--context", "context_", help="kubeconfig context for the kubectl verbs.")
@click.option("-n", "--namespace", help="Namespace for the kubectl verbs.")
@click.pass_context
def cli(ctx: click.Context, kubeconfig: str | None, context_: str | None, namespace: str | None) -> None:
    """minikube_py: a small, real Kubernetes node you can read."""
    ctx.obj = {"kubeconfig": kubeconfig, "context": context_, "namespace": namespace}


@click.command()
def version() -> None:
    """Print the version of minikube_py and of its native shim."""
    from minikube_py import _shim

    click.echo(f"mkpy {minikube_py.__version__} (native shim: {_shim.__file__})")


def main() -> None:
    cli(prog_name="mkpy")


if __name__ == "__main__":
    main()
