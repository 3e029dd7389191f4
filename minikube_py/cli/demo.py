"""`mkpy demo`: the README's first command ends here.

It grows with the project toward the guide's Part 1 (build, push, apply, curl
the Service). Today it shows the bottom layer working: a child process in new
PID and UTS namespaces, made through the native shim, with the kernel calls
printed as the trace a student reads.
"""

from __future__ import annotations

import os
import socket
import tempfile

import click


@click.command()
def demo() -> None:
    """Show a process in its own PID and UTS namespaces, and the calls that made it."""
    from minikube_py.kernel import shim
    from minikube_py.kernel.syscalls import Syscalls
    from minikube_py.kernel.trace import Tracer, format_trace, read_trace

    if os.geteuid() != 0:
        raise click.ClickException("the demo makes namespaces: run it as root (sudo mkpy demo)")
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
