"""A local image registry for the demo: Debian's docker-registry, its data under the state root.

    start(cfg, port)          -> http://127.0.0.1:PORT  (pid in <run>/registry.pid; `mkpy down` stops it)
    map_name(cfg, name, url)  -> <state>/certs.d/<name>/hosts.toml: `name` is served by `url`

The mapping is how the guide's `myregistry.com/myapp:v1.0` works unchanged: every ImageStore on
this state root (the demo's builder and the kubelet's) reads certs.d, containerd-style, and sends
requests for myregistry.com to the local registry instead of the internet.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import psutil

from minikube_py.cluster.config import ClusterConfig, ClusterError

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def _pid_file(cfg: ClusterConfig) -> str:
    return os.path.join(cfg.run_root, "registry.pid")


def running(cfg: ClusterConfig) -> psutil.Process | None:
    try:
        with open(_pid_file(cfg)) as f:
            proc = psutil.Process(int(f.read().split()[0]))
        if (
            proc.is_running()
            and proc.status() != psutil.STATUS_ZOMBIE
            and "registry" in " ".join(proc.cmdline())
        ):
            return proc
    except (FileNotFoundError, ValueError, IndexError, psutil.Error):
        pass
    return None


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start(cfg: ClusterConfig, port: int) -> str:
    """Start the registry on 127.0.0.1:port unless it already runs; return its URL."""
    url = f"http://127.0.0.1:{port}"
    if running(cfg) is not None and _answers(port):
        return url
    d = os.path.join(cfg.state_root, "registry")
    for path in (d, cfg.run_root, cfg.log_dir):
        os.makedirs(path, exist_ok=True)
    config = os.path.join(d, "config.yml")
    with open(config, "w") as f:
        f.write(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {d}/data\n"
            f"http:\n  addr: 127.0.0.1:{port}\n  secret: mkpy-local\n"
        )
    with open(os.path.join(cfg.log_dir, "registry.log"), "ab") as logf:
        proc = subprocess.Popen(
            [REGISTRY, "serve", config],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with open(_pid_file(cfg), "w") as f:
        f.write(f"{proc.pid}\n")
    deadline = time.monotonic() + 15
    while not _answers(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ClusterError(
                f"docker-registry did not start on 127.0.0.1:{port}; see {cfg.log_dir}/registry.log"
            )
        time.sleep(0.05)
    return url


def stop(cfg: ClusterConfig) -> None:
    proc = running(cfg)
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    try:
        os.unlink(_pid_file(cfg))
    except FileNotFoundError:
        pass


def map_name(cfg: ClusterConfig, name: str, url: str) -> str:
    """Write the hosts.toml that sends `name` to `url` (push allowed: it is our own registry)."""
    d = os.path.join(cfg.hosts_dir, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "hosts.toml")
    with open(path, "w") as f:
        f.write(f'server = "{url}"\n\n[host."{url}"]\n  capabilities = ["pull", "resolve", "push"]\n')
    return path
