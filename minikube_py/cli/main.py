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
    "runtime": "minikube_py.runtime.cli:runtime",
    "kubelet": "minikube_py.kubelet.cli:kubelet",
    "proxy": "minikube_py.network.proxy.cli:proxy",
    "up": "minikube_py.cluster.cli:up",
    "down": "minikube_py.cluster.cli:down",
    "status": "minikube_py.cluster.cli:status",
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
def cli() -> None:
    """minikube_py: a small, real Kubernetes node you can read."""


@click.command()
def version() -> None:
    """Print the version of minikube_py and of its native shim."""
    from minikube_py import _shim

    click.echo(f"mkpy {minikube_py.__version__} (native shim: {_shim.__file__})")


def main() -> None:
    cli(prog_name="mkpy")


if __name__ == "__main__":
    main()
