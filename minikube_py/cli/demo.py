"""`mkpy demo`: the README's first command ends here: the guide's Part 1, end to end.

    sudo mkpy demo            build + push myregistry.com/myapp:v1.0, mkpy up, apply the guide's
                              Deployment and Service, call the Service, show pods/logs/events;
                              the cluster stays up
    sudo mkpy demo --down     ... then tear it all down (mkpy down)
    sudo mkpy demo --kernel   only the bottom layer: a process in new PID and UTS namespaces,
                              with the kernel calls that made it (the native shim's trace)

The steps live in minikube_py/cluster/demo.py.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time

import click

from minikube_py.cluster.cli import cluster_options


@click.command()
@cluster_options
@click.option("--registry-port", type=int, default=5000, show_default=True, envvar="MKPY_REGISTRY_PORT",
              help="the local registry myregistry.com is mapped to (127.0.0.1:PORT)")
@click.option("--down", "tear_down", is_flag=True, help="tear everything down at the end (mkpy down)")
@click.option("--kernel", is_flag=True, help="only show a process in its own PID and UTS namespaces")
@click.option("--timeout", type=float, default=180.0, show_default=True)
def demo(registry_port: int, tear_down: bool, kernel: bool, timeout: float, **kwargs) -> None:
    """The guide's Part 1: build, push, mkpy up, apply, call the Service from all three pods."""
    if os.geteuid() != 0:
        raise click.ClickException("the demo makes namespaces: run it as root (sudo mkpy demo)")
    if kernel:
        kernel_trace()
        return
    from minikube_py.cluster import demo as guide
    from minikube_py.cluster import lifecycle
    from minikube_py.cluster.config import ClusterConfig, ClusterError

    cfg = ClusterConfig(**kwargs)
    if os.path.exists(cfg.config_file):  # already up: use the running cluster's settings
        cfg = ClusterConfig.load(cfg.run_root)
    t0 = time.monotonic()
    try:
        figures = guide.run(cfg, registry_port, say=click.echo, timeout=timeout)
    except ClusterError as exc:
        raise click.ClickException(f"{exc}\n(logs in {cfg.log_dir}/; `mkpy down` cleans up)") from None
    finally:
        if tear_down and os.path.exists(cfg.config_file):
            click.echo("\n==> Tear down\n    $ mkpy down")
            lifecycle.down(cfg.run_root, say=lambda s: click.echo(f"    {s}"))
    click.echo(f"\nDone in {time.monotonic() - t0:.1f} s (mkpy up: {figures['up']:.1f} s, "
               f"rollout: {figures['rollout']:.1f} s).")
    if not tear_down:
        click.echo(guide.next_steps(cfg))


def kernel_trace() -> None:
    """A child process in new PID and UTS namespaces, made through the native shim, and the trace."""
    from minikube_py.kernel import shim
    from minikube_py.kernel.syscalls import Syscalls
    from minikube_py.kernel.trace import Tracer, format_trace, read_trace

    # The trace goes to a file so that the child's calls (made in its own memory) are kept too.
    trace_file = tempfile.NamedTemporaryFile(prefix="mkpy-demo-", suffix=".trace")
    tracer = Tracer(trace_file.name)
    kernel = Syscalls(tracer)
    r, w = os.pipe()
    pid = kernel.clone(shim.CLONE_NEWPID | shim.CLONE_NEWUTS, why="a child in new PID and UTS namespaces")
    if pid == 0:
        os.close(r)
        try:
            kernel.sethostname("mkpy-demo", why="only this UTS namespace sees the new name")
            os.write(w, f"{os.getpid()} {socket.gethostname()}".encode())
        finally:
            os._exit(0)
    os.close(w)
    child_pid, child_host = os.read(r, 256).decode().split()
    os.close(r)
    os.waitpid(pid, 0)
    click.echo("The kernel calls, as the trace records them:")
    tracer.close()
    click.echo(format_trace(read_trace(trace_file.name)))
    trace_file.close()
    click.echo()
    click.echo(f"host sees the child as pid {pid}; inside, it is pid {child_pid} (its own PID namespace)")
    click.echo(f"host name: {socket.gethostname()}; the child's: {child_host} (its own UTS namespace)")
