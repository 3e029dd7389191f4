"""`mkpy cgroups ...` and `mkpy seccomp ...`: look at the limits and filters a container gets.

    mkpy cgroups detect                 v1 or v2, and why
    mkpy cgroups show /mkpy/ID          the cgroup's directory(ies) and stats()
    mkpy cgroups plan resources.json    the files and values an OCI linux.resources would write
    mkpy seccomp show [profile.json]    the BPF program (RuntimeDefault when no file is given)
"""

from __future__ import annotations

import json
import os
import sys

import click


def _load_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None


@click.group()
def cgroups() -> None:
    """cgroups: how much a container may use."""


@cgroups.command()
def detect() -> None:
    """Which cgroup driver this host needs."""
    from minikube_py.runtime.cgroups import detect as detect_driver

    kind = detect_driver()
    why = ("cgroup2 is mounted at /sys/fs/cgroup" if kind == "v2"
           else "/sys/fs/cgroup holds one v1 hierarchy per controller")
    click.echo(f"{kind}: {why}")


@cgroups.command()
@click.argument("path")
def show(path: str) -> None:
    """Where the cgroup PATH lives and what it uses now."""
    from minikube_py.runtime.cgroups import CgroupError, open_cgroup

    try:
        cg = open_cgroup(path)
        if not cg.exists():
            raise click.ClickException(f"cgroupsPath: {path} does not exist")
        dirs = [d for d in cg.directories() if os.path.isdir(d)]
        click.echo(json.dumps({"driver": cg.version, "directories": dirs, "procs": cg.procs(),
                               "stats": cg.stats()}, indent=2))
    except CgroupError as exc:
        raise click.ClickException(str(exc)) from None


@cgroups.command()
@click.argument("resources_json")
@click.option("--driver", type=click.Choice(["v1", "v2"]), default=None, help="default: this host's")
def plan(resources_json: str, driver: str | None) -> None:
    """The files an OCI linux.resources object (a JSON file, or - for stdin) would write."""
    from minikube_py.runtime.cgroups import CgroupError, detect, plan_v1, plan_v2

    resources = json.load(sys.stdin) if resources_json == "-" else _load_json(resources_json)
    try:
        writes = (plan_v2 if (driver or detect()) == "v2" else plan_v1)(resources)
    except CgroupError as exc:
        raise click.ClickException(str(exc)) from None
    for w in writes:
        click.echo(f"{w.file:<34} {w.value:<24} <- {w.field}")


@click.group()
def seccomp() -> None:
    """seccomp: which system calls a container may make."""


@seccomp.command(name="show")
@click.argument("profile_json", required=False)
@click.option("--cap", "caps", multiple=True, help="for RuntimeDefault: a capability the container keeps")
def show_seccomp(profile_json: str | None, caps: tuple[str, ...]) -> None:
    """Compile PROFILE_JSON (OCI linux.seccomp; default: RuntimeDefault) and print the BPF program."""
    from minikube_py.runtime import seccomp as sc

    try:
        if profile_json:
            profile = _load_json(profile_json)
        else:
            profile = sc.default_profile([*sc.DEFAULT_CAPABILITIES, *caps])
        compiled = sc.compile_profile(profile)
    except sc.SeccompError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(sc.disassemble(compiled.program))
    click.echo(f"# {compiled.instructions} instructions, flags={compiled.flags}")
    for note in compiled.notes:
        click.echo(f"# note: {note}")
