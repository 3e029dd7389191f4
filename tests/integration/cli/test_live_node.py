"""The kubectl verbs against a live `mkpy up` node (real kubelet, containers, network), next to
real kubectl: apply, rollout status, get, describe, logs (one pod, stern-style many), exec exit
codes, delete. Needs root, like `mkpy up`; everything it creates carries the mkpyt-cli prefix."""

from __future__ import annotations

import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from integration.image.registry_fixture import Registry
from minikube_py.api.testing import free_port
from minikube_py.image import baseimage
from minikube_py.image.store import ImageStore

from .conftest import normalize

pytestmark = pytest.mark.integration
SEED = Path(__file__).resolve().parents[3] / "examples" / "seed"
IMAGE = "myregistry.com/myapp:v1.0"


def run(env: dict, *argv: str, input: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), env=env, capture_output=True, text=True, input=input, timeout=timeout)


def mkpy(env: dict, *args: str, **kw) -> subprocess.CompletedProcess:
    res = run(env, sys.executable, "-m", "minikube_py", *args, **kw)
    assert "Traceback" not in res.stderr, res.stderr
    return res


@pytest.fixture
def node():
    """`mkpy up` on tmp roots with mkpyt-cli names, the guide's image in a test registry;
    `mkpy down` whatever happens."""
    tmp = Path(tempfile.mkdtemp(prefix="mkpyt-cli-live-"))
    tag = secrets.token_hex(3)
    env = dict(os.environ)
    env.update(
        MKPY_TEST_ROOT=str(tmp),
        MKPY_STATE_ROOT=str(tmp / "state"),
        MKPY_RUN_ROOT=str(tmp / "run"),
        MKPY_LOG_DIR=str(tmp / "log"),
        MKPY_KUBECONFIG=str(tmp / "admin.kubeconfig"),
        KUBECONFIG=str(tmp / "admin.kubeconfig"),
        MKPY_NODE_NAME=f"mkpyt-cli-{tag}",
        MKPY_NODE_NETNS=f"mkpyt-cli-{tag}",
        MKPY_NETNS_PREFIX=f"mkpyt-cli-{tag}-",
        MKPY_API_PORT=str(free_port()),
        MKPY_KUBELET_PORT=str(free_port()),
        MKPY_REGISTRY_PORT=str(free_port()),
        COLUMNS="200",
    )
    (tmp / "registry-test").mkdir()
    registry = Registry(str(tmp / "registry-test")).start()
    try:
        builder = ImageStore(str(tmp / "builder"), hosts_dir=str(tmp / "state" / "certs.d"))
        hosts = tmp / "state" / "certs.d" / "myregistry.com"
        hosts.mkdir(parents=True)
        (hosts / "hosts.toml").write_text(f'server = "{registry.url}"\n')
        assert baseimage.main(["--root", str(tmp / "builder")]) == 0
        builder.build(str(SEED / "app"), tags=[IMAGE], out=lambda _: None)
        builder.push(IMAGE)
        up = mkpy(env, "up")
        assert up.returncode == 0, up.stderr + up.stdout
        yield env
    finally:
        if (tmp / "run" / "cluster.json").exists():
            down = mkpy(env, "down", timeout=180)
            if down.returncode != 0:
                print(down.stdout, down.stderr)
        registry.stop()
        for log in sorted((tmp / "log").glob("*.log")) if (tmp / "log").is_dir() else []:
            print(f"--- {log.name}\n{log.read_text()[-2000:]}")
        shutil.rmtree(tmp, ignore_errors=True)


def same(env: dict, *args: str) -> subprocess.CompletedProcess:
    for _ in range(3):
        k = run(env, "kubectl", *args)
        m = mkpy(env, *args)
        if normalize(m.stdout) == normalize(k.stdout):
            return m
    assert normalize(m.stdout) == normalize(k.stdout), (args, m.stdout, m.stderr, k.stdout, k.stderr)
    return m


TICKER = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "ticker"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "ticker"}},
        "template": {
            "metadata": {"labels": {"app": "ticker"}},
            "spec": {
                "containers": [
                    {
                        "name": "tick",
                        "image": IMAGE,
                        "command": [
                            "sh",
                            "-c",
                            # PID 1 ignores SIGTERM without a handler: the trap lets `mkpy
                            # down` end it at once instead of after the 30 s grace period.
                            "trap 'exit 0' TERM; echo started $(hostname);"
                            " while true; do echo tick; sleep 1; done",
                        ],
                    }
                ]
            },
        },
    },
}


def test_verbs_on_a_live_node(node):
    env = node
    out = mkpy(env, "apply", "-f", str(SEED)).stdout
    assert out == "deployment.apps/myapp-deployment created\nservice/myapp-service created\n"
    assert (
        mkpy(env, "apply", "-f", "-", input=yaml.safe_dump(TICKER)).stdout
        == "deployment.apps/ticker created\n"
    )
    for name in ("myapp-deployment", "ticker"):
        res = mkpy(env, "rollout", "status", f"deployment/{name}", "--timeout", "180", timeout=200)
        assert res.returncode == 0 and res.stdout.splitlines()[-1] == (
            f'deployment "{name}" successfully rolled out'
        ), res.stdout + res.stderr

    m = same(env, "get", "pods,services")
    assert (
        sum(
            line.startswith("pod/myapp-deployment-") and " Running " in line for line in m.stdout.splitlines()
        )
        == 3
    )
    same(env, "get", "pods", "-o", "wide")
    same(env, "get", "nodes")
    pods = mkpy(
        env, "get", "pods", "-l", "app=myapp", "-o", "jsonpath={.items[*].metadata.name}"
    ).stdout.split()
    assert len(pods) == 3
    same(env, "describe", "pod", pods[0])

    # exec: output, the command's exit code as ours, stdin.
    assert mkpy(env, "exec", pods[0], "--", "hostname").stdout.strip() == pods[0]
    res = mkpy(env, "exec", pods[0], "--", "sh", "-c", "exit 3")
    assert (res.returncode, res.stderr) == (3, "command terminated with exit code 3\n")
    res = mkpy(env, "exec", "-i", pods[0], "--", "cat", "/srv/index.html")
    assert res.stdout == f"hello from {pods[0]}\n"

    # logs of one pod, like kubectl; then stern-style over both ticker pods.
    tickers = mkpy(
        env, "get", "pods", "-l", "app=ticker", "-o", "jsonpath={.items[*].metadata.name}"
    ).stdout.split()
    assert len(tickers) == 2
    k = run(env, "kubectl", "logs", tickers[0], "--tail", "1")
    m = mkpy(env, "logs", tickers[0], "--tail", "1")
    assert m.stdout == k.stdout == "tick\n"
    assert mkpy(env, "logs", tickers[0]).stdout.startswith(f"started {tickers[0]}\n")
    res = mkpy(env, "delete", "pod", pods[0], "--now")  # grace 1 s: httpd as PID 1 ignores SIGTERM
    assert res.stdout == f'pod "{pods[0]}" deleted\n'
    assert run(env, "kubectl", "get", "pod", pods[0]).returncode == 1  # gone when delete returned

    proc = subprocess.Popen(
        [sys.executable, "-m", "minikube_py", "logs", "-f", "-l", "app=ticker", "--color", "never"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(f"{p}/tick tick".encode() in seen for p in tickers):
            if select.select([proc.stdout], [], [], 1)[0]:
                seen += os.read(proc.stdout.fileno(), 65536)
        for p in tickers:
            assert f"{p}/tick tick".encode() in seen, seen[-2000:]
        # Following: the tickers print every second, so more lines must keep arriving.
        before = seen.count(b" tick\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and seen.count(b" tick\n") <= before + 2:
            if select.select([proc.stdout], [], [], 1)[0]:
                seen += os.read(proc.stdout.fileno(), 65536)
        followed = seen.count(b" tick\n") > before + 2
    finally:
        proc.terminate()
        proc.wait(10)
    out = mkpy(env, "delete", "deployment", "ticker").stdout
    assert out == 'deployment.apps "ticker" deleted\n'
    assert followed, "logs -f on a live node stopped following the container's output"
