"""The whole path with a real node: kubectl -> our API server -> the real kubelet's HTTP endpoint
-> the runtime's exec inside a busybox container (namespaces, cgroup, overlay root).

exec (output, exit code, stdin, a terminal), logs (--tail, -f) and port-forward to busybox httpd,
with kubectl 1.20 (SPDY) and the newest bundled kubectl (WebSocket)."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

import pytest

from minikube_py.api import auth

from .conftest import NEWEST, free_port
from .test_exec import _sleepers, wait_for
from .tty import tty_session

pytestmark = pytest.mark.integration
NODE = "node1"
POD = "mkpyt-kc-real"


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("a real node needs root")
    if not os.path.exists(NEWEST):
        pytest.skip(f"{NEWEST} is not installed")
    from minikube_py.api.client import Client
    from minikube_py.api.testing import ThreadedApiServer
    from minikube_py.image import baseimage
    from minikube_py.kubelet.apiclient import ApiObjects, NodeAPI
    from minikube_py.kubelet.kubelet import Kubelet
    from minikube_py.kubelet.server import KubeletServer

    from ..kubelet.conftest import Node

    tmp = tmp_path_factory.mktemp("mkpyt-kc-real")
    image_root = tempfile.mkdtemp(prefix="mkpyt-kc-images-")
    node = Node(
        tempfile.mkdtemp(prefix="mkpyt-kc-node-"),
        image_root,
        netns_prefix=f"mkpyt-kc-{uuid.uuid4().hex[:4]}-",
    )
    ca, cert, key = auth.ensure_serving_cert(str(tmp / "pki"))
    api = ThreadedApiServer(
        f"sqlite://{tmp}/state.db", tls_cert=cert, tls_key=key, socket_path=str(tmp / "api.sock")
    ).start()
    nodeapi = server = None
    try:
        assert baseimage.main(["--root", image_root]) == 0
        client = Client.from_socket(str(tmp / "api.sock"))
        nodeapi = NodeAPI(client, NODE, ["127.0.0.1"])
        node.kubelet = Kubelet(node.config, objects=ApiObjects(client), api=nodeapi)
        server = KubeletServer(node.kubelet)
        port = server.start()
        nodeapi.kubelet_port = port
        nodeapi.start()
        node.thread = threading.Thread(target=node.kubelet.run, daemon=True)
        node.thread.start()
        # The kubelet serves plain HTTP here: say so (the default would be https://IP:port).
        client.patch(
            "nodes",
            NODE,
            {"metadata": {"annotations": {"mkpy.io/kubelet-endpoint": f"http://127.0.0.1:{port}"}}},
        )
        script = (
            "mkdir -p /www; echo forwarded > /www/index.html; httpd -p 8080 -h /www; "
            "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.2; done"
        )
        client.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": POD},
                "spec": {
                    "nodeName": NODE,
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "c",
                            "image": "busybox:latest",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", script],
                        }
                    ],
                },
            },
            "default",
        )
        deadline = time.monotonic() + 60
        while (client.get("pods", POD, "default").get("status") or {}).get("phase") != "Running":
            assert time.monotonic() < deadline, "the pod did not start"
            time.sleep(0.2)
        kc = auth.write_kubeconfig(str(tmp / "admin.kubeconfig"), api.url, api.token, ca)
        yield kc
    finally:
        if server is not None:
            server.stop()
        node.cleanup()
        if nodeapi is not None:
            nodeapi.stop()
        api.stop()
        shutil.rmtree(image_root, ignore_errors=True)


def _kubectl(binary: str, kc: str, *args: str, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [binary, "--kubeconfig", kc, *args], capture_output=True, text=True, timeout=60, env=env, **kw
    )


@pytest.mark.parametrize("which", ["1.20", "newest"])
def test_real_container_exec_logs_port_forward(real, which, request):
    binary = request.getfixturevalue("kubectl_120") if which == "1.20" else NEWEST
    kc = real
    out = _kubectl(binary, kc, "exec", POD, "--", "cat", "/www/index.html")
    assert (out.returncode, out.stdout) == (0, "forwarded\n"), out.stderr
    out = _kubectl(binary, kc, "exec", POD, "--", "sh", "-c", "hostname; exit 3")
    assert out.returncode == 3 and out.stdout == f"{POD}\n"
    assert "command terminated with exit code 3" in out.stderr
    out = _kubectl(binary, kc, "exec", "-i", POD, "--", "tr", "a-z", "A-Z", input="typed in\n")
    assert out.stdout == "TYPED IN\n", out.stderr

    # A terminal: `stty size` in the container follows our window (runtime exec on the kubelet's pty).
    seen, code = tty_session([binary, "--kubeconfig", kc, "exec", "-it", POD, "--", "sh"])
    assert code == 5 and b"command terminated with exit code 5" in seen

    # Hanging up ends the command inside the container too (the kubelet kills its process group).
    tag = "31.4159" if which == "1.20" else "27.1828"
    hung = subprocess.Popen(
        [binary, "--kubeconfig", kc, "exec", POD, "--", "sh", "-c", f"echo up; exec sleep {tag}"],
        stdout=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
    )
    try:
        assert hung.stdout.readline() == b"up\n"
        wait_for(lambda: _sleepers(tag), "the command to start")
    finally:
        hung.kill()
        hung.wait()
    wait_for(lambda: not _sleepers(tag), "the command to end with its kubectl")

    out = _kubectl(binary, kc, "logs", POD, "--tail=2")
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all(x.startswith("line-") for x in lines), out

    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    follow = subprocess.Popen(
        [binary, "--kubeconfig", kc, "logs", "-f", "--tail=1", POD],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    got: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [got.put(x) for x in follow.stdout], daemon=True).start()
    try:
        seen = [int(got.get(timeout=20).strip().split("-")[1]) for _ in range(4)]
    finally:
        follow.terminate()
        follow.wait(10)
    assert seen == list(range(seen[0], seen[0] + 4))  # new lines arrive while we watch

    local = free_port()
    pf = subprocess.Popen(
        [binary, "--kubeconfig", kc, "port-forward", f"pod/{POD}", f"{local}:8080"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert "Forwarding from" in pf.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=20) as r:
            assert r.read() == b"forwarded\n"
    finally:
        pf.terminate()
        pf.wait(10)
