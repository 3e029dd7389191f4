"""`mkpy up` -> the guide's Deployment and Service -> answers from all three pods -> `mkpy down`,
with nothing left behind (the leak check), and `mkpy demo --down` end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from waiting import wait_for as _wait_for

from integration.image.registry_fixture import Registry
from integration.up.conftest import mkpy
from minikube_py.api.client import Client
from minikube_py.image import baseimage
from minikube_py.image.store import ImageStore

pytestmark = pytest.mark.integration
SEED = Path(__file__).resolve().parents[3] / "examples" / "seed"
IMAGE = "myregistry.com/myapp:v1.0"


def poll(fn, what: str, timeout: float = 120.0):
    return _wait_for(what, fn, timeout, interval=0.25)


def wget_in_netns(netns: str, ip: str, port: int) -> str:
    """A request from the node's network namespace, made by curl (not by our code)."""
    res = subprocess.run(["nsenter", f"--net={netns}", "curl", "-s", "-m", "3",
                          f"http://{ip}:{port}/"], capture_output=True, text=True, timeout=10)
    return res.stdout.strip()


def answering_pods(netns: str, ip: str, port: int, want: set[str], tries: int = 60) -> set[str]:
    seen: set[str] = set()
    for _ in range(tries):
        seen.add(wget_in_netns(netns, ip, port).removeprefix("hello from "))
        if want <= seen:
            break
    return seen


def test_up_runs_the_guides_service_and_down_leaves_nothing(cluster_env):
    env = cluster_env
    tmp_path = Path(env["MKPY_TEST_ROOT"])
    netns = f"/run/netns/{env['MKPY_NODE_NETNS']}"
    (tmp_path / "registry-test").mkdir()
    registry = Registry(str(tmp_path / "registry-test")).start()
    try:
        # docker build + push, into a builder store of the test's; the node must pull it.
        builder = ImageStore(str(tmp_path / "builder"), hosts_dir=str(tmp_path / "state" / "certs.d"))
        hosts = tmp_path / "state" / "certs.d" / "myregistry.com"
        hosts.mkdir(parents=True)
        (hosts / "hosts.toml").write_text(f'server = "{registry.url}"\n')
        assert baseimage.main(["--root", str(tmp_path / "builder")]) == 0
        builder.build(str(SEED / "app"), tags=[IMAGE], out=lambda _: None)
        builder.push(IMAGE)

        t0 = time.monotonic()
        res = mkpy(env, "up")
        up_seconds = time.monotonic() - t0
        assert res.returncode == 0, res.stderr + res.stdout
        assert f"export KUBECONFIG={env['MKPY_KUBECONFIG']}" in res.stdout
        print(f"mkpy up to Ready: {up_seconds:.1f} s")
        again = mkpy(env, "up")
        assert again.returncode == 0 and "already up" in again.stdout

        client = Client.from_kubeconfig(env["MKPY_KUBECONFIG"])   # TLS + token, as kubectl
        node = client.get("nodes", env["MKPY_NODE_NAME"])
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
        status = mkpy(env, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "kube-dns" in {s["metadata"]["name"] for s in client.list("services", "kube-system")["items"]}

        for name in ("deployment.yaml", "service.yaml"):
            client.create(yaml.safe_load((SEED / name).read_text()))

        def running_pods():
            pods = client.list("pods", "default", label_selector="app=myapp")["items"]
            names = {p["metadata"]["name"] for p in pods if p.get("status", {}).get("phase") == "Running"
                     and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])}
            return names if len(names) == 3 else None

        names = poll(running_pods, "3 Running, ready pods")
        uids = {p["metadata"]["uid"] for p in client.list("pods", "default")["items"]}
        events = client.list("events", "default", field_selector="reason=Pulled")["items"]
        assert any("Successfully pulled" in e["message"] for e in events), "the node did not pull the image"

        def service():
            svc = client.get("services", "myapp-service")
            return svc if svc.get("status", {}).get("loadBalancer", {}).get("ingress") else None

        svc = poll(service, "a LoadBalancer IP")
        cluster_ip, lb_ip = svc["spec"]["clusterIP"], svc["status"]["loadBalancer"]["ingress"][0]["ip"]
        poll(lambda: sum(len(s.get("addresses") or []) for s in
                         client.get("endpoints", "myapp-service").get("subsets") or []) == 3, "3 endpoints")
        assert answering_pods(netns, cluster_ip, 80, names) == names
        assert answering_pods(netns, lb_ip, 80, names) == names

        # The supervisor restarts a component that dies; the pods keep running meanwhile.
        pid_file = Path(env["MKPY_RUN_ROOT"]) / "pids" / "kubelet.pid"
        old_pid = int(pid_file.read_text())
        os.kill(old_pid, signal.SIGKILL)
        poll(lambda: pid_file.exists() and int(pid_file.read_text()) != old_pid, "a new kubelet", 30)
        assert answering_pods(netns, cluster_ip, 80, names) == names
        poll(lambda: mkpy(env, "status").returncode == 0, "mkpy status to report all healthy", 60)
        assert running_pods() == names    # the same pods: nothing restarted or re-created

        # kill -9 the supervisor: its components go with it (PDEATHSIG), the pods stay; `mkpy up`
        # again brings the control plane back to the same pods, and the Service answers again.
        sup = int((Path(env["MKPY_RUN_ROOT"]) / "supervisor.pid").read_text())
        os.kill(sup, signal.SIGKILL)
        poll(lambda: mkpy(env, "status").returncode == 1 and "not running" in mkpy(env, "status").stdout,
             "the components to stop with the supervisor", 30)
        res = mkpy(env, "up")
        assert res.returncode == 0 and "is Ready" in res.stdout, res.stdout + res.stderr
        assert running_pods() == names
        poll(lambda: answering_pods(netns, lb_ip, 80, names, tries=10) == names,
             "the Service after the restart", 60)
    finally:
        down = mkpy(env, "down")
        registry.stop()
    assert down.returncode == 0, down.stderr + down.stdout
    assert "mkpy is down" in down.stdout
    assert not os.path.exists(netns)
    assert not os.path.exists(env["MKPY_STATE_ROOT"]) and not os.path.exists(env["MKPY_KUBECONFIG"])
    # Our pods' cgroups are gone (checked here too: other kubelets on the machine share kubepods/).
    import glob

    left = [d for uid in uids for d in glob.glob(f"/sys/fs/cgroup/*/kubepods/**/pod{uid}", recursive=True)]
    assert not left
    # ... and the leak check (tests/conftest.py) finds no process, mount, netns, cgroup or rule left.


@pytest.mark.vm
def test_demo_down_end_to_end(cluster_env):
    t0 = time.monotonic()
    res = mkpy(cluster_env, "demo", "--down")
    seconds = time.monotonic() - t0
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    print(f"mkpy demo --down: {seconds:.1f} s")
    out = res.stdout
    assert out.count("-> answers from 3 of 3 pods") == 2, out     # ClusterIP, then the LoadBalancer IP
    assert 'deployment "myapp-deployment" successfully rolled out' in out
    for shown in ("pod/myapp-deployment-", "service/myapp-service", "LoadBalancer", "Events:", "Scheduled"):
        assert shown in out
    assert "mkpy down" in out and "removed the node network" in out
    assert not os.path.exists(os.path.join(cluster_env["MKPY_RUN_ROOT"], "cluster.json"))


def test_up_fails_clearly_when_the_api_port_is_taken_and_down_cleans_up(cluster_env):
    import socket

    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", int(cluster_env["MKPY_API_PORT"])))
        busy.listen()
        res = mkpy(cluster_env, "up", "--timeout", "60")
    assert res.returncode != 0
    assert "apiserver.log" in res.stderr                     # the error says where to look
    assert "--- " in res.stderr and "address already in use" in res.stderr.lower()
    down = mkpy(cluster_env, "down")
    assert down.returncode == 0, down.stderr
    assert not os.path.exists(f"/run/netns/{cluster_env['MKPY_NODE_NETNS']}")
