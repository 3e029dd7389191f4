"""RuntimeClient (what the kubelet uses): every verb through the CLI, reads from the state dir."""

from __future__ import annotations

import pytest

from minikube_py.runtime.client import RuntimeClient
from minikube_py.runtime.errors import ContainerError

pytestmark = [pytest.mark.integration]


def test_client_drives_a_container_through_its_life(rt, tmp_path):
    client = RuntimeClient(str(rt.root))
    cid, bundle = rt.bundle(["sh", "-c", "echo hello-from-client; sleep 1000"])
    pid_file = tmp_path / "pid"
    client.create(cid, str(bundle), pid_file=str(pid_file))
    state = client.state(cid)
    assert state["status"] == "created" and int(pid_file.read_text()) == state["pid"]
    client.start(cid)
    assert client.state(cid)["status"] == "running"
    done = client.exec(cid, ["sh", "-c", "echo $FOO; id -u; exit 4"], env={"FOO": "bar"}, user="65534")
    assert done.returncode == 4 and done.stdout.split() == ["bar", "65534"]
    assert [s["id"] for s in client.list()] == [cid]
    assert client.exit_info(cid) is None
    client.kill(cid, "KILL")
    info = rt.exit_info(cid)
    assert client.exit_info(cid) == info and info["signal"] == 9
    assert "stdout F hello-from-client" in open(client.log_path(cid)).read()
    client.delete(cid)
    with pytest.raises(ContainerError, match="does not exist"):
        client.state(cid)
    with pytest.raises(ContainerError, match=r"start: .*does not exist"):
        client.start(cid)
