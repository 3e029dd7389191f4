"""`kubectl exec` with real kubectl: 1.20 speaks SPDY/3.1, the newest bundled one WebSocket v5."""

from __future__ import annotations

import pytest

from minikube_py.api import streaming

from .conftest import NEWEST, POD


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
