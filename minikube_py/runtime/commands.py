"""`mkpy runtime ...` / `mkpy-runc ...`: runc's command line over container.Runtime, in click.

Same verbs and flags as runc, so a student can swap one for the other:
    mkpy-runc --root /tmp/state create --bundle ./bundle web
    mkpy-runc --root /tmp/state start web
    mkpy-runc --root /tmp/state trace web      (ours: the numbered kernel-call narrative)
Errors print `mkpy-runc: <message>` on stderr and exit 1.

This group is the whole command line: help, every verb, argument errors. The
`mkpy-runc` entry point (cli.py) reads the few plain argv shapes that callers
repeat all day (create/start/kill/delete...) itself and only comes here for the
rest, because importing click costs about as much as a whole `runc run`.
"""

from __future__ import annotations

import json
import os
import sys

import click

from minikube_py.runtime.errors import ContainerError
from minikube_py.runtime.state import DEFAULT_ROOT


def _runtime(ctx: click.Context):
    from minikube_py.runtime.container import Runtime

    return Runtime(ctx.obj["root"])


class _Group(click.Group):
    """Turns ContainerError into one line on stderr and exit status 1 (runc's behaviour)."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ContainerError as exc:
            click.echo(f"mkpy-runc: {exc}", err=True)
            if ctx.obj and ctx.obj.get("log"):
                from minikube_py.runtime.cli import log_error

                log_error(["--log", ctx.obj["log"]], str(exc))
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", default=DEFAULT_ROOT, show_default=True, help="directory for container state")
@click.option("--log", "log_file", default=None, hidden=True, help="errors also go here (JSON lines)")
@click.option("--log-format", default=None, hidden=True)
@click.option("--systemd-cgroup", is_flag=True, hidden=True)
@click.option("--debug", is_flag=True, hidden=True)
@click.version_option(package_name="minikube_py", prog_name="mkpy-runc",
                      message="%(prog)s version %(version)s\nspec: 1.0.2")
@click.pass_context
def runtime(ctx: click.Context, root: str, log_file: str | None, log_format: str | None,
            systemd_cgroup: bool, debug: bool) -> None:
    """An OCI runtime: run a bundle as an isolated, limited, secured process (runc-compatible)."""
    ctx.obj = {"root": root, "log": log_file}


@runtime.command()
@click.option("--bundle", "-b", default=".", help="bundle directory (holds config.json)")
@click.option("--pid-file", default=None, help="write the init's pid here")
@click.option("--console-socket", default=None, help="unix socket that receives the pty master")
@click.argument("container_id")
@click.pass_context
def create(ctx: click.Context, bundle: str, pid_file: str | None, console_socket: str | None,
           container_id: str) -> None:
    """Create a container; its process waits for `start`."""
    _runtime(ctx).create(container_id, bundle, pid_file=pid_file, console_socket=console_socket)


@runtime.command()
@click.argument("container_id")
@click.pass_context
def start(ctx: click.Context, container_id: str) -> None:
    """Start the user process of a created container."""
    _runtime(ctx).start(container_id)


@runtime.command()
@click.argument("container_id")
@click.pass_context
def state(ctx: click.Context, container_id: str) -> None:
    """Print the container's state (OCI JSON)."""
    click.echo(json.dumps(_runtime(ctx).state(container_id), indent=2))


@runtime.command()
@click.argument("container_id")
@click.argument("signal", default="SIGTERM")
@click.option("--all", "-a", "all_", is_flag=True, help="every process in the container's cgroup")
@click.pass_context
def kill(ctx: click.Context, container_id: str, signal: str, all_: bool) -> None:
    """Send a signal (name with or without SIG, or number) to the container's init."""
    _runtime(ctx).kill(container_id, signal, all_processes=all_)


@runtime.command()
@click.option("--force", "-f", is_flag=True, help="kill the container first if it is running")
@click.argument("container_id")
@click.pass_context
def delete(ctx: click.Context, force: bool, container_id: str) -> None:
    """Delete a stopped container (or any, with --force)."""
    _runtime(ctx).delete(container_id, force=force)


@runtime.command()
@click.option("--bundle", "-b", default=".")
@click.option("--detach", "-d", is_flag=True, help="return after start; the monitor keeps the logs")
@click.option("--pid-file", default=None)
@click.option("--console-socket", default=None)
@click.argument("container_id")
@click.pass_context
def run(ctx: click.Context, bundle: str, detach: bool, pid_file: str | None, console_socket: str | None,
        container_id: str) -> None:
    """create + start (+ wait and delete unless --detach); exits with the container's exit code."""
    code = _runtime(ctx).run(container_id, bundle, detach=detach, pid_file=pid_file,
                             console_socket=console_socket)
    ctx.exit(code)


@runtime.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--tty", "-t", is_flag=True, help="give the process a terminal")
@click.option("--env", "-e", multiple=True, help="KEY=VALUE, added to the container's env")
@click.option("--cwd", default=None)
@click.option("--user", "-u", default=None, help="UID[:GID]")
@click.option("--detach", "-d", is_flag=True, help="return once the process has started")
@click.option("--process", "-p", "process_json", default=None,
              help="process.json (an OCI process; fields it leaves out come from config.json)")
@click.option("--console-socket", default=None, help="unix socket that receives the pty master")
@click.option("--pid-file", default=None, help="write the new process's pid here")
@click.argument("container_id")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def exec(ctx: click.Context, tty: bool, env: tuple[str, ...], cwd: str | None, user: str | None,
         detach: bool, process_json: str | None, console_socket: str | None, pid_file: str | None,
         container_id: str, command: tuple[str, ...]) -> None:
    """Run another process in a running container (all its namespaces and its cgroup)."""
    from minikube_py.runtime.exec import exec_in

    overrides = None
    if process_json:
        try:
            with open(process_json) as f:
                overrides = json.load(f)
        except (OSError, ValueError) as exc:
            raise ContainerError(f"--process {process_json}: {exc}") from None
        if not isinstance(overrides, dict) or not overrides.get("args"):
            raise ContainerError(f"--process {process_json}: args: give the command to run")
        if tty:
            overrides["terminal"] = True
    elif not command:
        raise ContainerError("exec: give a command (or --process)")
    code = exec_in(ctx.obj["root"], container_id, list(command), env=list(env), cwd=cwd, user=user,
                   tty=tty, detach=detach, process=overrides, console_socket=console_socket,
                   pid_file=pid_file)
    ctx.exit(code)


@runtime.command("list")
@click.option("--quiet", "-q", is_flag=True, help="ids only")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def list_(ctx: click.Context, quiet: bool, fmt: str) -> None:
    """List containers."""
    states = _runtime(ctx).list()
    if quiet:
        for s in states:
            click.echo(s["id"])
    elif fmt == "json":
        click.echo(json.dumps(states))
    else:
        click.echo(f"{'ID':<24} {'PID':<8} {'STATUS':<8} {'BUNDLE':<40} CREATED")
        for s in states:
            click.echo(f"{s['id']:<24} {s['pid']:<8} {s['status']:<8} {s['bundle']:<40} {s['created']}")


@runtime.command()
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("container_id")
@click.pass_context
def ps(ctx: click.Context, fmt: str, container_id: str) -> None:
    """The processes in the container (its cgroup)."""
    pids = _runtime(ctx).ps(container_id)
    if fmt == "json":
        click.echo(json.dumps(pids))
        return
    import psutil

    click.echo(f"{'PID':>8}  CMD")
    for pid in pids:
        try:
            cmd = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            cmd = "?"
        click.echo(f"{pid:>8}  {cmd}")


@runtime.command()
@click.option("--bundle", "-b", default=".", help="where to write config.json")
@click.option("--rootless", is_flag=True, hidden=True)
def spec(bundle: str, rootless: bool) -> None:
    """Write a default config.json (like `runc spec`)."""
    from minikube_py.runtime.spec import default_spec

    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise ContainerError(f"{path} already exists")
    with open(path, "w") as f:
        json.dump(default_spec(), f, indent=2)
        f.write("\n")


@runtime.command()
@click.argument("container_id")
@click.pass_context
def trace(ctx: click.Context, container_id: str) -> None:
    """Print every kernel call made for the container, numbered, with the code that made it."""
    from minikube_py.kernel.trace import format_trace, read_trace
    from minikube_py.runtime.state import StateDir

    st = StateDir(ctx.obj["root"], container_id)
    st.read()
    click.echo(format_trace(read_trace(st.file("trace.jsonl"))))


@runtime.command()
@click.argument("container_id")
@click.pass_context
def logs(ctx: click.Context, container_id: str) -> None:
    """Print the container's CRI-format log file."""
    path = _runtime(ctx).log_path(container_id)
    if not path or not os.path.exists(path):
        raise ContainerError(f"container {container_id!r} has no log (attached run?)")
    with open(path) as f:
        sys.stdout.write(f.read())
