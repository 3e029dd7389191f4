"""`kubectl port-forward pod/X LOCAL:POD` then HTTP through it: kubectl 1.20 (SPDY) and the newest
(SPDY tunnelled in a WebSocket, or plain SPDY after falling back)."""

from __future__ import annotations

import http.server
import os
import queue
import subprocess
import threading
import urllib.request

import pytest

from minikube_py.api import streaming

from .conftest import NEWEST, POD, free_port


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from the pod, you asked for {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def pod_server():
    """What listens "in the pod": the stand-in kubelet connects to 127.0.0.1:<this port>."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("which", ["1.20", "newest"])
def test_port_forward_http(cluster, pod_server, which, request):
    binary = request.getfixturevalue("kubectl_120") if which == "1.20" else NEWEST
    local = free_port()
    before = dict(streaming.SESSIONS)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.Popen(
        [binary, "--kubeconfig", cluster.kubeconfig, "port-forward", f"pod/{POD}", f"{local}:{pod_server}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=30)
        assert f"Forwarding from 127.0.0.1:{local} -> {pod_server}" in first
        for path in ("/one", "/two"):  # two connections: two stream pairs on one session
            with urllib.request.urlopen(f"http://127.0.0.1:{local}{path}", timeout=20) as resp:
                assert resp.read().decode() == f"hello from the pod, you asked for {path}\n"
    finally:
        proc.terminate()
        proc.wait(10)
    used = {k[1] for k, v in streaming.SESSIONS.items() if k[0] == "portforward" and v > before.get(k, 0)}
    assert used == ({"spdy"} if which == "1.20" else {"websocket"})


def test_python_client_port_forward(cluster, pod_server):
    """The official client's `portforward(...)`: WebSocket channels 0/1 for the one port."""
    from kubernetes import client as k8s
    from kubernetes import config as kconfig
    from kubernetes.stream import portforward

    v1 = k8s.CoreV1Api(kconfig.new_client_from_config(config_file=cluster.kubeconfig))
    before = streaming.SESSIONS[("portforward", "websocket-channels")]
    pf = portforward(v1.connect_get_namespaced_pod_portforward, POD, "default", ports=str(pod_server))
    sock = pf.socket(pod_server)
    sock.sendall(b"GET /py HTTP/1.0\r\n\r\n")
    got = b""
    while chunk := sock.recv(4096):
        got += chunk
    sock.close()
    assert got.startswith(b"HTTP/1.0 200") and got.endswith(b"hello from the pod, you asked for /py\n")
    assert pf.error(pod_server) is None
    assert streaming.SESSIONS[("portforward", "websocket-channels")] == before + 1
