"""Helpers for tests (ours and other layers'): an API server in a background thread, a real etcd.

with EtcdProcess(tmpdir) as etcd, ThreadedApiServer(f"etcd://{etcd.endpoint}") as api:
    api.client.create({...})
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from typing import Any

from .client import Client
from .server import ApiServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedApiServer:
    """ApiServer on 127.0.0.1 (or `host`):<free port> (+ optional unix socket), its event loop in a thread."""

    def __init__(
        self,
        store_url: str,
        *,
        token: str = "mkpyt-api-token",
        socket_path: str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        **kwargs: Any,
    ) -> None:
        self.token = token
        self.host = host  # 127.0.0.2 stands in for "another machine's address" (off loopback)
        self.server = ApiServer(
            store_url, listen=f"{host}:{port}", socket_path=socket_path, tokens=[token], **kwargs
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="mkpyt-api-server", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as e:  # noqa: BLE001 - reported to the starting thread
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.stop())
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def start(self) -> ThreadedApiServer:
        self.thread.start()
        self._ready.wait(30)
        if self._error:
            raise self._error
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(15)

    @property
    def url(self) -> str:
        scheme = "https" if self.server.tls else "http"
        return f"{scheme}://{self.host}:{self.server.port}"

    @property
    def client(self) -> Client:
        # Tests trust their own throwaway certificate; real callers use the kubeconfig's CA.
        return Client(self.url, token=self.token, insecure=bool(self.server.tls))

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (e.g. backend.compact) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> ThreadedApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EtcdProcess:
    """A throwaway single-member etcd on free loopback ports with its own data dir."""

    def __init__(
        self, workdir: str | None = None, name: str = "mkpyt-api", progress_interval: str = "300ms"
    ) -> None:
        self.dir = tempfile.mkdtemp(prefix="mkpyt-api-etcd-", dir=workdir)
        self.client_port, self.peer_port = free_port(), free_port()
        self.name = name
        self.progress_interval = progress_interval
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def start(self) -> EtcdProcess:
        c, p = f"http://127.0.0.1:{self.client_port}", f"http://127.0.0.1:{self.peer_port}"
        self.log = open(os.path.join(self.dir, "etcd.log"), "wb")
        self.proc = subprocess.Popen(
            [
                "etcd",
                "--name",
                self.name,
                "--data-dir",
                os.path.join(self.dir, "data"),
                "--listen-client-urls",
                c,
                "--advertise-client-urls",
                c,
                "--listen-peer-urls",
                p,
                "--initial-advertise-peer-urls",
                p,
                "--initial-cluster",
                f"{self.name}={p}",
                "--experimental-watch-progress-notify-interval",
                self.progress_interval,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{c}/health", timeout=1).read()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"etcd did not start; see {self.dir}/etcd.log") from None
                time.sleep(0.05)

    def wipe(self) -> None:
        """Delete every key (between tests sharing one etcd)."""
        import base64
        import json

        body = json.dumps(
            {"key": base64.b64encode(b"\0").decode(), "range_end": base64.b64encode(b"\0").decode()}
        )
        req = urllib.request.Request(
            f"http://{self.endpoint}/v3/kv/deleterange", body.encode(), method="POST"
        )
        urllib.request.urlopen(req, timeout=10).read()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "log"):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> EtcdProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
