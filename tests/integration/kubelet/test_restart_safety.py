"""SIGKILL the kubelet while pods run: containers live on, a new kubelet re-adopts them without
restarting anything, and cleans up a pod whose manifest went away while it was down."""

import os
import signal
import subprocess
import sys
import time

import pytest

from .conftest import busybox_pod
from .test_pods import cs, running

pytestmark = pytest.mark.integration


@pytest.mark.vm
def test_kill_9_and_readopt(node):
    node.start_cli()
    node.apply("keep", busybox_pod("keep", {"name": "c", "command": [
        "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]}))
    node.apply("drop", busybox_pod("drop", {"name": "c", "command": ["sleep", "1000"]}))
    keep = node.wait("keep", running, what="keep running")
    node.wait("drop", running, what="drop running")
    cid = cs(keep)["containerID"]
    started = cs(keep)["state"]["running"]["startedAt"]

    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait()
    from minikube_py.kubelet.cri import RuntimeService

    rt = RuntimeService(node.config.runtime_root)
    assert rt.state(cid.split("://")[1])["status"] == "running"   # the monitor holds it, not the kubelet
    node.remove("drop")                                            # deleted while the kubelet is down
    ticks_before = node.log("keep", "c").count("tick")

    node.start_cli()
    node.wait_gone("drop")
    deadline = time.monotonic() + 3          # several sync periods of the new kubelet
    while time.monotonic() < deadline:
        obj = node.status("keep")
        assert cs(obj)["containerID"] == cid and cs(obj)["restartCount"] == 0
        time.sleep(0.2)
    assert cs(obj)["state"]["running"]["startedAt"] == started
    log = node.log("keep", "c")
    numbers = [int(line.split()[1]) for line in log.splitlines() if line.startswith("tick")]
    assert len(numbers) > ticks_before and numbers == list(range(len(numbers)))   # one continuous log

    def mkpy(*args):
        argv = [sys.executable, "-m", "minikube_py.cli.main", "kubelet", "--root", node.config.root,
                "--log-root", node.config.log_root, *args]
        return subprocess.run(argv, capture_output=True, text=True, check=True)

    table = mkpy("pods").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[1].split()[:4] == ["keep-node1", "1/1", "Running", "0"]
    assert mkpy("logs", "keep-node1", "-c", "c").stdout.startswith("tick 0\ntick 1\n")
    infra = [s for s in rt.list() if s["annotations"].get("io.kubernetes.cri.container-type") == "sandbox"]
    assert len(infra) == 1                                        # nothing duplicated
    node.remove("keep")
    node.wait_gone("keep")
    node.proc.terminate()
    assert node.proc.wait(timeout=10) is not None
    assert rt.list() == []
    assert not [n for n in os.listdir(node.config.netns_dir) if n.startswith(node.config.netns_prefix)]


def test_orphaned_containers_are_removed(node):
    """A pod whose kubelet record is lost (and whose manifest is gone) is garbage: a kubelet that
    finds its containers in the runtime removes them, their netns and their cgroups."""
    import shutil

    k = node.start()
    node.apply("lost", busybox_pod("lost", {"name": "c", "command": ["sleep", "1000"]}))
    obj = node.wait("lost", running)
    node.stop()
    shutil.rmtree(os.path.join(node.config.root, "pods", obj["metadata"]["uid"]))
    node.remove("lost")
    assert len(k.runtime.list()) == 2                       # the container and the infra, unowned
    k = node.start()

    def pod_netns() -> list[str]:
        return [n for n in os.listdir(node.config.netns_dir) if n.startswith(node.config.netns_prefix)]

    # The containers go first and the netns after them: wait for the whole removal.
    deadline = time.monotonic() + 20
    while (k.runtime.list() or pod_netns()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert k.runtime.list() == []
    assert pod_netns() == []
