"""`mkpy apiserver ...`: run the API server standalone, or write a kubeconfig for it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import click

from . import auth


@click.group("apiserver")
def apiserver() -> None:
    """The Kubernetes-shaped API server (SQLite or etcd behind it)."""


@apiserver.command()
@click.option(
    "--listen", default="127.0.0.1:6443", show_default=True, help="TCP address (token required); '' = none"
)
@click.option(
    "--socket",
    "socket_path",
    default="/run/mkpy/apiserver.sock",
    show_default=True,
    help="unix socket for node agents (no token); '' = none",
)
@click.option(
    "--store",
    default="sqlite:///var/lib/mkpy/apiserver/state.db",
    show_default=True,
    help="sqlite:///PATH or etcd://HOST:PORT",
)
@click.option("--token-file", default=auth.DEFAULT_TOKEN_FILE, show_default=True)
@click.option(
    "--kubeconfig", default=auth.DEFAULT_KUBECONFIG, show_default=True, help="admin kubeconfig to write"
)
@click.option("--pki-dir", default=auth.DEFAULT_PKI_DIR, show_default=True)
@click.option(
    "--encryption-key-file",
    default="/etc/mkpy/encryption.key",
    show_default=True,
    help="AES-GCM key for Secrets at rest; created if missing; '' = no encryption",
)
@click.option("--no-tls", is_flag=True, help="serve plain HTTP on TCP (lab use only)")
@click.option("--ready-file", default="", help="write this file once serving (for scripts and tests)")
@click.option(
    "--advertise-address", default="", help="IP:PORT pods reach this server at (kubernetes Endpoints)"
)
def serve(
    listen: str,
    socket_path: str,
    store: str,
    token_file: str,
    kubeconfig: str,
    pki_dir: str,
    encryption_key_file: str,
    no_tls: bool,
    ready_file: str,
    advertise_address: str,
) -> None:
    """Serve until SIGTERM/SIGINT."""
    from .server import ApiServer
    from .storage.encryption import write_key_file

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    token = auth.ensure_token_file(token_file)
    tls_cert = tls_key = ca = None
    if listen and not no_tls:
        # The serving certificate must name every address clients dial: the advertised one too.
        hosts = tuple(h for h in (advertise_address.rpartition(":")[0], listen.rpartition(":")[0]) if h)
        ca, tls_cert, tls_key = auth.ensure_serving_cert(
            pki_dir, hosts=tuple(h for h in hosts if h not in ("0.0.0.0", "::"))
        )
        # our client certificate for `kubectl logs/exec` through us to kubelets on other machines
        from .nodeproxy import set_kubelet_client_cert

        set_kubelet_client_cert(*auth.ensure_kubelet_client_cert(pki_dir))
    if encryption_key_file and not os.path.exists(encryption_key_file):
        write_key_file(encryption_key_file)
    server = ApiServer(
        store,
        listen=listen or None,
        socket_path=socket_path or None,
        tokens=auth.load_tokens(token_file),
        encryption_key_file=encryption_key_file or None,
        tls_cert=tls_cert,
        tls_key=tls_key,
        ca_file=ca,
        **(
            {"advertise": (advertise_address.rpartition(":")[0], int(advertise_address.rpartition(":")[2]))}
            if advertise_address
            else {}
        ),
    )

    async def main() -> None:
        await server.start()
        if listen and kubeconfig:
            host = listen.rpartition(":")[0] or "127.0.0.1"
            if host in ("0.0.0.0", "::"):  # every address: the admin on this machine uses loopback
                host = "127.0.0.1"
            scheme = "http" if no_tls else "https"
            auth.write_kubeconfig(kubeconfig, f"{scheme}://{host}:{server.port}", token, ca)
        click.echo(
            f"apiserver: serving on {listen or '-'} (port {server.port}) and {socket_path or '-'}; "
            f"store {store}",
            err=True,
        )
        if ready_file:
            with open(ready_file, "w") as f:
                f.write(f"{server.port}\n")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    asyncio.run(main())


@apiserver.command("kubeconfig")
@click.option("--server", "server_url", required=True, help="e.g. https://127.0.0.1:6443")
@click.option("--token-file", default=auth.DEFAULT_TOKEN_FILE, show_default=True)
@click.option("--ca-file", default=os.path.join(auth.DEFAULT_PKI_DIR, "ca.crt"), show_default=True)
@click.option("--out", default=auth.DEFAULT_KUBECONFIG, show_default=True)
def kubeconfig_cmd(server_url: str, token_file: str, ca_file: str, out: str) -> None:
    """Write an admin kubeconfig for a running server."""
    token = auth.ensure_token_file(token_file)
    auth.write_kubeconfig(out, server_url, token, ca_file if os.path.exists(ca_file) else None)
    click.echo(out)


if __name__ == "__main__":
    apiserver()
