"""`kubectl attach` for real: kubectl -> our API server -> the kubelet's /attach -> the container's
own stdio (output: its CRI log followed from the end; stdin: the monitor's attach socket).

kubectl 1.29 speaks SPDY, 1.33 WebSocket v5; the official Python client WebSocket v4."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
from ptyterm import Terminal
from waiting import wait_for as _wait_for

from minikube_py.api import auth

pytestmark = pytest.mark.integration
BUNDLED = "/usr/lib/google-cloud-sdk/bin"
KUBECTLS = {"spdy": f"{BUNDLED}/kubectl.1.29", "websocket": f"{BUNDLED}/kubectl.1.33"}
NODE = "node1"
TALK, ECHO, ONCE, TTY = "mkpyt-kl2-talk", "mkpyt-kl2-echo", "mkpyt-kl2-once", "mkpyt-kl2-tty"
DEAF = "mkpyt-kl2-deaf"


def _pod(name: str, script: str, **container) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox:latest",
                                     "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", script],
                                     **container}]}}


def _wait(what: str, predicate, timeout: float = 60):
    return _wait_for(what, predicate, timeout)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, image_root):
    """Our API server (TLS + unix socket), one real kubelet with its HTTP endpoint, a kubeconfig."""
    if os.geteuid() != 0:
        pytest.skip("a real node needs root")
    from minikube_py.api.client import Client
    from minikube_py.api.testing import ThreadedApiServer
    from minikube_py.kubelet.apiclient import ApiObjects, NodeAPI
    from minikube_py.kubelet.kubelet import Kubelet
    from minikube_py.kubelet.server import KubeletServer

    from .conftest import Node

    tmp = tmp_path_factory.mktemp("mkpyt-kl2-attach")
    node = Node(tempfile.mkdtemp(prefix="mkpyt-kl2-node-"), image_root,
                netns_prefix=f"mkpyt-kl2-{uuid.uuid4().hex[:4]}-")
    ca, cert, key = auth.ensure_serving_cert(str(tmp / "pki"))
    api = ThreadedApiServer(f"sqlite://{tmp}/state.db", tls_cert=cert, tls_key=key,
                            socket_path=str(tmp / "api.sock")).start()
    nodeapi = server = None
    try:
        client = Client.from_socket(str(tmp / "api.sock"))
        nodeapi = NodeAPI(client, NODE, ["127.0.0.1"])
        node.kubelet = Kubelet(node.config, objects=ApiObjects(client), api=nodeapi)
        server = KubeletServer(node.kubelet)
        nodeapi.kubelet_port = port = server.start()
        nodeapi.start()
        node.thread = threading.Thread(target=node.kubelet.run, daemon=True)
        node.thread.start()
        client.patch("nodes", NODE, {"metadata": {"annotations": {
            "mkpy.io/kubelet-endpoint": f"http://127.0.0.1:{port}"}}})
        talk = "i=0; while true; do echo line-$i; echo err-$i >&2; i=$((i+1)); sleep 0.2; done"
        client.create(_pod(TALK, talk), "default")
        client.create(_pod(ECHO, "while read l; do echo got:$l; done; echo stdin-closed", stdin=True),
                      "default")
        for transport in KUBECTLS:
            client.create(_pod(f"{ONCE}-{transport}", "cat; echo done-reading", stdin=True, stdinOnce=True),
                          "default")
        for transport in KUBECTLS:
            client.create(_pod(f"{TTY}-{transport}", "sh", stdin=True, tty=True), "default")
        deaf = "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done"  # never reads stdin
        client.create(_pod(DEAF, deaf, stdin=True), "default")
        for name in (TALK, ECHO, DEAF, *(f"{p}-{t}" for p in (ONCE, TTY) for t in KUBECTLS)):
            _wait(f"{name} to run", lambda n=name: (client.get("pods", n, "default").get("status") or {})
                  .get("phase") == "Running")
        kc = auth.write_kubeconfig(str(tmp / "admin.kubeconfig"), api.url, api.token, ca)
        yield kc, client, node, port
    finally:
        if server is not None:
            server.stop()
        node.cleanup()
        if nodeapi is not None:
            nodeapi.stop()
        api.stop()
        shutil.rmtree(node.base, ignore_errors=True)


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


def _lines(proc: subprocess.Popen) -> queue.Queue[str]:
    got: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [got.put(x) for x in proc.stdout], daemon=True).start()
    return got


@pytest.mark.parametrize("transport", ["spdy", "websocket"])
def test_attach_follows_live_output(cluster, transport):
    from minikube_py.api.streaming import SESSIONS  # the API server runs in this process

    kc, _, _, _ = cluster
    binary = KUBECTLS[transport]
    sessions = SESSIONS[("attach", transport)]
    before = subprocess.run([binary, "--kubeconfig", kc, "logs", TALK], capture_output=True, text=True,
                            timeout=60, env=_env())
    last = max(int(x.split("-")[1]) for x in before.stdout.split())
    proc = subprocess.Popen([binary, "--kubeconfig", kc, "attach", TALK], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    try:
        got = _lines(proc)
        seen = [got.get(timeout=30).strip() for _ in range(4)]
    finally:
        proc.kill()
        proc.wait()
    stderr = proc.stderr.read()  # also kubectl's own "If you don't see a command prompt..."
    assert [x for x in stderr.split() if x.startswith("err-")], stderr  # the stderr channel
    numbers = [int(x.split("-")[1]) for x in seen]
    assert all(x.startswith("line-") for x in seen), seen   # stdout here, stderr on kubectl's stderr
    assert numbers == list(range(numbers[0], numbers[0] + 4))  # live and in order
    assert numbers[0] > last  # printed after we attached, not replayed from the log
    assert SESSIONS[("attach", transport)] == sessions + 1  # kubectl took the path we meant


@pytest.mark.parametrize("transport", ["spdy", "websocket"])
def test_attach_stdin_reaches_the_process(cluster, transport):
    kc, client, _, _ = cluster
    proc = subprocess.Popen([KUBECTLS[transport], "--kubeconfig", kc, "attach", "-i", ECHO],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())
    try:
        got = _lines(proc)
        word = f"hello-{transport}"
        # Repeat until it comes back: kubectl may start sending before the stream to the container
        # exists, and a line typed before the attach is nobody's (like on a real cluster).
        deadline = time.monotonic() + 30
        while True:
            proc.stdin.write(word + "\n")
            proc.stdin.flush()
            try:
                line = got.get(timeout=1).strip()
                break
            except queue.Empty:
                assert time.monotonic() < deadline, "no echo from the container"
        assert line == f"got:{word}"
    finally:
        proc.kill()
        proc.wait()
    # Without stdinOnce the container's stdin stays open after the attach ends: it still runs.
    time.sleep(0.5)
    assert client.get("pods", ECHO, "default")["status"]["phase"] == "Running"


@pytest.mark.parametrize("transport", ["spdy", "websocket"])
def test_attach_stdin_once_closes_stdin_after_the_first_attach(cluster, transport):
    kc, client, _, _ = cluster
    pod = f"{ONCE}-{transport}"
    done = subprocess.run([KUBECTLS[transport], "--kubeconfig", kc, "attach", "-i", pod],
                          input="one\ntwo\n", capture_output=True, text=True, timeout=60, env=_env())
    # stdin EOF -> the monitor closes the container's stdin -> `cat` ends -> the container exits
    # -> the attach ends with Success.
    assert done.returncode == 0, done.stderr
    assert "done-reading" in done.stdout.split(), done.stdout
    _wait("the pod to succeed", lambda: client.get("pods", pod, "default")["status"]["phase"] == "Succeeded")
    logs = subprocess.run([KUBECTLS[transport], "--kubeconfig", kc, "logs", pod], capture_output=True,
                          text=True, timeout=60, env=_env())
    assert logs.stdout.split() == ["one", "two", "done-reading"]


def test_attach_errors_are_clear(cluster):
    kc, _, _, port = cluster
    out = subprocess.run([KUBECTLS["websocket"], "--kubeconfig", kc, "attach", TALK, "-c", "nope"],
                         capture_output=True, text=True, timeout=60, env=_env())
    assert out.returncode != 0 and "nope" in out.stderr, out.stderr
    out = subprocess.run([KUBECTLS["websocket"], "--kubeconfig", kc, "attach", "mkpyt-kl2-missing"],
                         capture_output=True, text=True, timeout=60, env=_env())
    assert out.returncode != 0 and "not found" in out.stderr, out.stderr
    # The kubelet's own answer (the API server checks the name first): a Failure on the error channel.
    import asyncio
    import json

    import aiohttp

    async def ask() -> dict:
        async with aiohttp.ClientSession() as s, s.ws_connect(
                f"http://127.0.0.1:{port}/attach/default/{TALK}/nope?stdout=true",
                protocols=("v4.channel.k8s.io",)) as ws:
            msg = await ws.receive_bytes(timeout=20)
            assert msg[0] == 3  # the error channel
            return json.loads(msg[1:])

    status = asyncio.run(ask())
    assert (status["status"], status["message"]) == ("Failure", f"container nope is not valid for pod {TALK}")


def test_python_client_attach(cluster):
    kc, _, _, _ = cluster
    from kubernetes import client as k8s
    from kubernetes import config
    from kubernetes.stream import stream

    api = k8s.CoreV1Api(config.new_client_from_config(kc))
    ws = stream(api.connect_get_namespaced_pod_attach, ECHO, "default", stdin=True, stdout=True,
                stderr=True, tty=False, _preload_content=False)
    try:
        out = ""
        deadline = time.monotonic() + 30
        while "got:from-python" not in out:
            assert time.monotonic() < deadline, out
            ws.write_stdin("from-python\n")
            ws.update(timeout=1)
            out += ws.read_stdout()
    finally:
        ws.close()


def test_a_container_that_ignores_stdin_keeps_logging(cluster):
    """The monitor never blocks on the stdin pipe: 4 MiB pushed at a container that does not read
    fill the pipe and the socket, and its output is still copied to the log meanwhile."""
    from minikube_py.kubelet.streaming import connect_unix

    _, client, node, _ = cluster
    pod = client.get("pods", DEAF, "default")
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://")[1]
    sock = connect_unix(node.kubelet.runtime.attach_socket(cid))
    sock.settimeout(2)
    pushed = [0]

    def push() -> None:
        chunk = b"x" * 65536
        try:
            for _ in range(64):
                sock.sendall(chunk)
                pushed[0] += len(chunk)
        except OSError:  # timed out: everything between us and the container is full
            pass

    pusher = threading.Thread(target=push)
    pusher.start()
    try:
        log = node.kubelet.runtime.log_path(cid)
        size = os.path.getsize(log)
        _wait("the log to grow while stdin is full", lambda: os.path.getsize(log) > size + 200, timeout=20)
        pusher.join(10)
        assert 0 < pushed[0] < 64 * 65536  # it did fill up: nobody reads
        size = os.path.getsize(log)
        _wait("the log to keep growing", lambda: os.path.getsize(log) > size + 200, timeout=20)
    finally:
        sock.close()
        pusher.join(10)


def test_kubectl_run_it(cluster):
    """`kubectl run -it` makes a pod with stdin, stdinOnce and tty, waits for it, and attaches."""
    kc, client, _, _ = cluster
    pod = "mkpyt-kl2-run"
    with Terminal([
        KUBECTLS["websocket"], "--kubeconfig", kc, "run", pod, "-it", "--restart=Never",
        "--image=busybox:latest", "--image-pull-policy=IfNotPresent",
        '--overrides={"apiVersion": "v1", "spec": {"nodeName": "node1"}}', "--", "sh",
    ], _env() | {"TERM": "xterm"}) as term:
        # What is typed before the attach is through is lost: type until the shell answers.
        term.ask(b"echo hi-from-r''un", b"hi-from-run", b"hi-from-run", timeout=60)
        term.type(b"exit 4")
        term.finish()
    c = client.get("pods", pod, "default")["spec"]["containers"][0]
    assert (c.get("stdin"), c.get("stdinOnce"), c.get("tty")) == (True, True, True)
    _wait("the pod to fail with exit 4", lambda: (client.get("pods", pod, "default")["status"]
                                                  .get("containerStatuses") or [{}])[0]
          .get("state", {}).get("terminated", {}).get("exitCode") == 4)


@pytest.mark.parametrize("transport", ["spdy", "websocket"])
def test_attach_to_a_terminal(cluster, transport):
    """`kubectl attach -it` to a `tty: true` container: the shell on the pty its monitor holds; the
    window size follows ours (a resize is TIOCSWINSZ on the container's tty)."""
    kc, client, _, _ = cluster
    pod = f"{TTY}-{transport}"
    with Terminal([KUBECTLS[transport], "--kubeconfig", kc, "attach", "-it", pod],
                  _env() | {"TERM": "xterm"}) as term:
        # kubectl's first keystrokes may come before the attach is through, and it sends 25x81
        # first, then 24x80 (a fake resize so the program redraws): ask until the size is ours.
        term.ask(b"stty size; echo MA''RK1", b"MARK1", b"24 80", timeout=30)
        term.resize(40, 100)  # kubectl gets SIGWINCH
        out = term.ask(b"stty size; echo MA''RK2", b"MARK2", b"40 100", timeout=30)
        # The prompt after it has no newline: the monitor logs such a partial line after 100 ms.
        del term.seen[:out.rindex(b"MARK2") + len(b"MARK2")]
        term.read_until(b"# ", timeout=10)
        term.type(b"exit 3")  # the shell ends, so does the container, so does the attach
        term.finish()
    term = _wait("the container to end", lambda: (client.get("pods", pod, "default")["status"]
                                                   .get("containerStatuses") or [{}])[0]
                 .get("state", {}).get("terminated"))
    assert term["exitCode"] == 3
