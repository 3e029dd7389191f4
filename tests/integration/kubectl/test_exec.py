"""`kubectl exec` with real kubectl: 1.20 speaks SPDY/3.1, the newest bundled one WebSocket v5."""

from __future__ import annotations

import os
import subprocess

import pytest
from waiting import wait_for as _wait_for

from minikube_py.api import streaming

from .conftest import NEWEST, POD
from .tty import tty_session


@pytest.fixture(params=["1.20", "newest"])
def kubectl(request, cluster):
    """(binary, transport it must use) for each kubectl."""
    if request.param == "1.20":
        return request.getfixturevalue("kubectl_120"), "spdy"
    return NEWEST, "websocket"


def _sessions(transport: str) -> int:
    return streaming.SESSIONS[("exec", transport)]


def test_exec_prints_output(cluster, kubectl):
    binary, transport = kubectl
    before = _sessions(transport)
    out = cluster.kubectl(binary, "exec", POD, "--", "echo", "hi")
    assert out.stdout == "hi\n"
    assert _sessions(transport) == before + 1  # it really went over SPDY (1.20) / WebSocket (newest)


def test_exec_exit_code(cluster, kubectl):
    binary, _ = kubectl
    out = cluster.kubectl(binary, "exec", POD, "--", "sh", "-c", "echo to-err >&2; exit 3", check=False)
    assert "command terminated with exit code 3" in out.stderr
    assert "to-err" in out.stderr
    assert out.returncode == 3


def test_exec_stdin(cluster, kubectl):
    binary, _ = kubectl
    out = cluster.kubectl(
        binary, "exec", "-i", POD, "--", "sh", "-c", "tr a-z A-Z; echo done", input="hello\nworld\n"
    )
    assert out.stdout == "HELLO\nWORLD\ndone\n"


def test_exec_tty_typing_resize_exit(cluster, kubectl):
    """`kubectl exec -it POD -- sh` on a real terminal: what we type runs, a window resize reaches
    the remote terminal (`stty size`), and the shell's exit code comes back."""
    binary, _ = kubectl
    seen, code = tty_session([binary, "--kubeconfig", cluster.kubeconfig, "exec", "-it", POD, "--", "sh"])
    assert b"command terminated with exit code 5" in seen
    assert code == 5


def test_python_client_stream_exec(cluster):
    """The official client's `stream(connect_get_namespaced_pod_exec, ...)` (WebSocket v4)."""
    from kubernetes import client as k8s
    from kubernetes import config as kconfig
    from kubernetes.stream import stream

    v1 = k8s.CoreV1Api(kconfig.new_client_from_config(config_file=cluster.kubeconfig))
    out = stream(
        v1.connect_get_namespaced_pod_exec,
        POD,
        "default",
        command=["sh", "-c", "echo hi; echo oops >&2"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    assert "hi" in out and "oops" in out
    resp = stream(
        v1.connect_get_namespaced_pod_exec,
        POD,
        "default",
        command=["sh", "-c", "read x; echo got-$x; exit 4"],
        stdout=True,
        stderr=True,
        stdin=True,
        tty=False,
        _preload_content=False,
    )
    resp.write_stdin("abc\n")
    resp.run_forever(timeout=20)
    assert "got-abc" in resp.read_stdout(timeout=10)
    assert resp.returncode == 4
    resp.close()


def test_exec_into_an_unscheduled_pod_is_a_clear_error(cluster, kubectl):
    binary, _ = kubectl
    c = cluster.api.client
    if not c.list("pods", "default", field_selector="metadata.name=mkpyt-kc-pending")["items"]:
        c.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "mkpyt-kc-pending"},
                "spec": {"containers": [{"name": "app", "image": "busybox:latest"}]},
            }
        )
    out = cluster.kubectl(binary, "exec", "mkpyt-kc-pending", "--", "true", check=False)
    assert out.returncode != 0
    assert "pod mkpyt-kc-pending does not have a host assigned" in out.stderr


@pytest.mark.parametrize("minor", range(27, 34))
def test_every_bundled_kubectl_execs(cluster, minor):
    """1.27-1.29 speak SPDY for exec, 1.30+ WebSocket (falling back to SPDY only on an upgrade failure)."""
    binary = f"/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}"
    if not os.path.exists(binary):
        pytest.skip(f"{binary} is not installed")
    transport = "spdy" if minor < 30 else "websocket"
    before = _sessions(transport)
    out = cluster.kubectl(binary, "exec", POD, "--", "sh", "-c", "echo hi; exit 2", check=False)
    assert (out.returncode, out.stdout) == (2, "hi\n")
    assert "command terminated with exit code 2" in out.stderr
    assert _sessions(transport) == before + 1


def test_kubectl_cp_both_ways(cluster, kubectl, tmp_path):
    """`kubectl cp` is exec of `tar` with stdin/stdout streaming whole files."""
    binary, _ = kubectl
    src = tmp_path / "up.txt"
    src.write_bytes(b"to the pod\n" * 1000)
    cluster.kubectl(binary, "cp", str(src), f"{POD}:copied-{tmp_path.name}.txt")
    back = tmp_path / "down.txt"
    cluster.kubectl(binary, "cp", f"{POD}:copied-{tmp_path.name}.txt", str(back))
    assert back.read_bytes() == src.read_bytes()


def wait_for(cond, what: str, timeout: float = 20) -> None:
    _wait_for(what, cond, timeout, interval=0.05)


def _sleepers(tag: str) -> list:
    import psutil

    return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", tag]]


def test_killing_kubectl_ends_the_command(cluster, kubectl):
    """A hung-up client ends the exec: the API server closes the kubelet's WebSocket and the
    kubelet kills the command's process group."""
    binary, transport = kubectl
    tag = "31.4159" if transport == "spdy" else "27.1828"
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.Popen(
        [
            binary,
            "--kubeconfig",
            cluster.kubeconfig,
            "exec",
            POD,
            "--",
            "sh",
            "-c",
            f"echo up; exec sleep {tag}",
        ],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout.readline() == b"up\n"
        wait_for(lambda: _sleepers(tag), "the command to start")  # `up` comes just before exec
        assert len(_sleepers(tag)) == 1
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: not _sleepers(tag), "the command to end with its kubectl")
