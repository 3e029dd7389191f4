"""`mkpy logs` through pods/log to a stand-in kubelet, and `mkpy exec` over the channel WebSocket."""

from __future__ import annotations

import os
import select
import sys

from integration.kubectl.tty import tty_session
from minikube_py.api import streaming

from .conftest import NODE, wait_for

NS = "mkpyt-cli-logs"


def running_pod(cluster, name: str, containers=("app",), labels=None) -> None:
    """A pod bound to the stand-in node, reported Running (by the pod runner)."""
    cluster.client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"nodeName": NODE, "containers": [{"name": c, "image": "busybox"} for c in containers]},
        },
        NS,
    )
    for c in containers:
        open(cluster.kubelet.log_path(name, c), "a").close()
    wait_for(
        lambda: cluster.client.get("pods", name, NS)["status"].get("phase") == "Running",
        what=f"{name} Running",
    )


def setup_module_ns(cluster) -> None:
    if not cluster.client.list("namespaces", field_selector=f"metadata.name={NS}")["items"]:
        cluster.kubectl("create", "namespace", NS)


def test_logs_single_pod_like_kubectl(cluster):
    setup_module_ns(cluster)
    running_pod(cluster, "solo", ("app", "side"))
    cluster.kubelet.write("solo", "app", "one", "two", "three")
    cluster.kubelet.write("solo", "side", "from-side")
    for args in (
        ("logs", "solo", "-c", "app"),
        ("logs", "solo", "-c", "app", "--tail", "2"),
        ("logs", "solo", "side"),
        ("logs", "nope"),
    ):
        k = cluster.kubectl(*args, "-n", NS, check=False)
        m = cluster.mkpy(*args, "-n", NS, check=False)
        assert (m.stdout, m.returncode) == (k.stdout, k.returncode), args
    # kubectl walks the containers in Go map order (random): compare the lines, not their order.
    k = cluster.kubectl("logs", "solo", "--all-containers", "-n", NS)
    m = cluster.mkpy("logs", "solo", "--all-containers", "-n", NS)
    assert sorted(m.stdout.splitlines()) == sorted(k.stdout.splitlines())
    assert m.stdout == "one\ntwo\nthree\nfrom-side\n"
    assert cluster.mkpy("logs", "solo", "-c", "app", "--tail", "2", "-n", NS).stdout == "two\nthree\n"
    m = cluster.mkpy("logs", "solo", "-n", NS, check=False)
    assert m.returncode == 0 and 'Defaulted container "app" out of: app, side' in m.stderr


def test_logs_follow_many_pods_stern_style(cluster):
    """`logs -f -l app=web`: every pod's lines with a pod/container prefix, a pod that appears later
    joins the stream, and a deployment-style TYPE/NAME with --all-pods does the same."""
    setup_module_ns(cluster)
    running_pod(cluster, "web-a", labels={"app": "web"})
    cluster.kubelet.write("web-a", "app", "a-old")
    proc = cluster.popen_mkpy("logs", "-f", "-l", "app=web", "-n", NS, "--color", "never")
    seen: list[str] = []
    try:
        os.set_blocking(proc.stdout.fileno(), False)

        def got(needle: str) -> bool:
            if select.select([proc.stdout], [], [], 0.2)[0]:
                chunk = proc.stdout.read() or b""
                seen.extend(chunk.decode().splitlines())
            return any(needle in line for line in seen)

        wait_for(lambda: got("web-a/app a-old"), what="the first pod's old line")
        cluster.kubelet.write("web-a", "app", "a-new")
        wait_for(lambda: got("web-a/app a-new"), what="a followed line")
        running_pod(cluster, "web-b", labels={"app": "web"})
        cluster.kubelet.write("web-b", "app", "b-hello")
        wait_for(lambda: got("web-b/app b-hello"), what="the new pod's line")
        cluster.kubelet.write("web-a", "app", "a-again")
        wait_for(lambda: got("web-a/app a-again"), what="interleaving")
        # The container restarts: its old stream ends, a new one follows the new instance.
        cluster.kubelet.restart("web-a", "app")
        pod = cluster.client.get("pods", "web-a", NS)
        cs = pod["status"]["containerStatuses"][0]
        cs["restartCount"] = 1
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
        cluster.client.update_status(pod)
        cluster.kubelet.write("web-a", "app", "a-reborn")
        wait_for(lambda: got("web-a/app a-reborn"), what="the restarted container's line")
    finally:
        proc.terminate()
        proc.wait(10)
    assert all(line.startswith(("web-a/app ", "web-b/app ")) for line in seen), seen
    assert sum("a-old" in line for line in seen) == 1  # the restart did not replay the old log
    k = cluster.kubectl("logs", "web-a", "--previous", "-n", NS)
    m = cluster.mkpy("logs", "web-a", "--previous", "-n", NS)
    assert m.stdout == k.stdout == "a-old\na-new\na-again\n"

    # Not following: kubectl's --prefix form of the same pods.
    k = cluster.kubectl("logs", "-l", "app=web", "--prefix", "-n", NS)
    m = cluster.mkpy("logs", "-l", "app=web", "--prefix", "-n", NS)
    assert sorted(m.stdout.splitlines()) == sorted(
        line.replace("[pod/", "").replace("] ", " ").replace("/app", "/app") for line in k.stdout.splitlines()
    )


def test_logs_of_a_deployment(cluster):
    setup_module_ns(cluster)
    cluster.client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "dep"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "dep"}},
                "template": {
                    "metadata": {"labels": {"app": "dep"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        },
        NS,
    )
    pods = wait_for(
        lambda: (lambda ps: ps if len(ps) == 2 else None)(
            [
                p["metadata"]["name"]
                for p in cluster.client.list("pods", NS, label_selector="app=dep")["items"]
                if p["status"].get("phase") == "Running"
            ]
        ),
        what="two running pods",
    )
    for p in pods:
        cluster.kubelet.write(p, "c", f"hello from {p}")
    m = cluster.mkpy("logs", "deployment/dep", "-n", NS)
    assert m.stdout in {f"hello from {p}\n" for p in pods}
    assert m.stderr.startswith("Found 2 pods, using pod/")
    m = cluster.mkpy("logs", "deployment/dep", "--all-pods", "--prefix", "-n", NS)
    assert sorted(m.stdout.splitlines()) == sorted(f"{p}/c hello from {p}" for p in pods)


# ---------------------------------------------------------------- exec
def test_exec_output_exit_code_and_stdin(cluster):
    setup_module_ns(cluster)
    running_pod(cluster, "box")
    before = streaming.SESSIONS[("exec", "websocket")]
    m = cluster.mkpy("exec", "-n", NS, "box", "--", "echo", "hi")
    assert m.stdout == "hi\n"
    m = cluster.mkpy("exec", "-n", NS, "box", "--", "sh", "-c", "echo to-err >&2; exit 3", check=False)
    k = cluster.kubectl("exec", "-n", NS, "box", "--", "sh", "-c", "echo to-err >&2; exit 3", check=False)
    assert (
        (m.returncode, m.stderr)
        == (k.returncode, k.stderr)
        == (3, "to-err\ncommand terminated with exit code 3\n")
    )
    m = cluster.mkpy(
        "exec", "-i", "-n", NS, "box", "--", "sh", "-c", "tr a-z A-Z; echo done", input="hello\n"
    )
    assert m.stdout == "HELLO\ndone\n"
    # stdin that epoll cannot watch (/dev/null, a file) still works, and ends the remote stdin.
    import subprocess

    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "exec",
            "-i",
            "-n",
            NS,
            "box",
            "--",
            "sh",
            "-c",
            "cat; echo end",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=cluster.env(),
        timeout=60,
    )
    assert (res.returncode, res.stdout) == (0, "end\n"), res.stderr
    # It really was our WebSocket client (the API server counts its sessions per transport).
    assert streaming.SESSIONS[("exec", "websocket")] >= before + 3
    m = cluster.mkpy("exec", "-n", NS, "nope", "--", "true", check=False)
    assert (m.returncode, m.stderr) == (1, 'Error from server (NotFound): pods "nope" not found\n')


def test_exec_tty_resize_and_exit_code(cluster):
    """`mkpy exec -it box -- sh` on a real terminal: typing runs, a resize reaches `stty size`,
    `exit 5` becomes our exit code."""
    setup_module_ns(cluster)
    if not any(p["metadata"]["name"] == "box" for p in cluster.client.list("pods", NS)["items"]):
        running_pod(cluster, "box")
    argv = [sys.executable, "-m", "minikube_py.cli.main", "exec", "-it", "-n", NS, "box", "--", "sh"]
    seen, code = tty_session(argv, exit_code=5, env=cluster.env())
    assert code == 5
    assert b"command terminated with exit code 5" in seen


def test_port_forward_reaches_a_port_in_the_pod(cluster):
    """`mkpy port-forward pod/box :PORT` over the SPDY-in-WebSocket tunnel; two HTTP requests
    through it reach the "pod's" server (here: a server on loopback the stand-in kubelet dials)."""
    import http.server
    import threading
    import urllib.request

    setup_module_ns(cluster)
    if not any(p["metadata"]["name"] == "box" for p in cluster.client.list("pods", NS)["items"]):
        running_pod(cluster, "box")

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"hello from the pod, path {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    before = streaming.SESSIONS[("portforward", "websocket")]
    proc = cluster.popen_mkpy("port-forward", "-n", NS, "pod/box", f":{srv.server_address[1]}")
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("Forwarding from 127.0.0.1:"), (
            line,
            proc.stderr.read1(4096) if proc.poll() else "",
        )
        local = int(line.split(":")[1].split()[0])
        for path in ("/a", "/b"):
            with urllib.request.urlopen(f"http://127.0.0.1:{local}{path}", timeout=20) as r:
                assert r.read().decode() == f"hello from the pod, path {path}"
        assert streaming.SESSIONS[("portforward", "websocket")] == before + 1
    finally:
        proc.terminate()
        proc.wait(10)
        srv.shutdown()
        srv.server_close()


def test_delete_waits_until_the_kubelet_confirms(cluster):
    """A running pod is not gone when DELETE answers (it is Terminating until its kubelet confirms);
    `mkpy delete` returns only once it is really gone, like kubectl."""
    setup_module_ns(cluster)
    running_pod(cluster, "short-lived")
    m = cluster.mkpy("delete", "pod", "short-lived", "-n", NS)
    assert m.stdout == 'pod "short-lived" deleted\n'
    assert cluster.client.list("pods", NS, field_selector="metadata.name=short-lived")["items"] == []
