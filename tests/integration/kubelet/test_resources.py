"""Resources, QoS and volumes for real: cgroup placement, oom_score_adj, OOMKilled, secrets on tmpfs."""

import base64
import os
import time

import pytest

from minikube_py.kubelet.command import DictObjects

from .conftest import busybox_pod
from .test_pods import cs, running

pytestmark = pytest.mark.integration


def pid_of(node, obj) -> int:
    cid = cs(obj)["containerID"].split("://")[1]
    return node.kubelet.runtime.state(cid)["pid"]


@pytest.mark.vm
def test_burstable_pod_cgroup_and_oom_score_adj(node):
    node.start()
    node.apply("burst", busybox_pod("burst", {
        "name": "c", "command": ["sleep", "1000"],
        "resources": {"requests": {"memory": "256Mi", "cpu": "250m"}, "limits": {"memory": "512Mi"}}}))
    obj = node.wait("burst", running, what="running")
    assert obj["status"]["qosClass"] == "Burstable"
    pid = pid_of(node, obj)
    uid, cid = obj["metadata"]["uid"], cs(obj)["containerID"].split("://")[1]
    with open(f"/proc/{pid}/cgroup") as f:
        cgroups = f.read()
    assert f"/kubepods/burstable/pod{uid}/{cid}" in cgroups
    with open(f"/proc/{pid}/oom_score_adj") as f:
        adj = int(f.read())
    # 1000 - 1000 * 256Mi / 4Gi (this node's capacity) = 938, never below what this host allows us.
    assert adj == max(938, node.kubelet.oom_floor)
    from minikube_py.runtime.cgroups import open_cgroup

    stats = open_cgroup(f"kubepods/burstable/pod{uid}/{cid}").stats()
    assert stats["memory_limit"] == 512 * 2**20
    # The pod-level cgroup carries the pod's pids limit (kubelet's podPidsLimit).
    pids_max = [p for p in (f"/sys/fs/cgroup/pids/kubepods/burstable/pod{uid}/pids.max",
                            f"/sys/fs/cgroup/kubepods/burstable/pod{uid}/pids.max") if os.path.exists(p)]
    assert pids_max and open(pids_max[0]).read().strip() == "1024"


def _adj(pid: int) -> int:
    with open(f"/proc/{pid}/oom_score_adj") as f:
        return int(f.read())


def _has_cap_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        cap_eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    return bool(cap_eff & (1 << 24))


@pytest.mark.vm
def test_oom_score_adj_by_qos_class(node):
    """kubelet's values: Guaranteed -997, BestEffort 1000, the sandbox -998 — where lowering is
    allowed (CAP_SYS_RESOURCE: the VM lane, a real node). Without it (this container host) the
    kubelet clamps to its own value, which is what it must do then (docs/kubelet.md)."""
    node.start()
    node.apply("guar", busybox_pod("guar", {
        "name": "c", "command": ["sleep", "1000"],
        "resources": {"limits": {"memory": "64Mi", "cpu": "100m"}}}))
    node.apply("best", busybox_pod("best", {"name": "c", "command": ["sleep", "1000"]}))
    guar = node.wait("guar", running, what="running")
    best = node.wait("best", running, what="running")
    assert (guar["status"]["qosClass"], best["status"]["qosClass"]) == ("Guaranteed", "BestEffort")
    infra = node.kubelet.runtime.state(node.kubelet.pods[guar["metadata"]["uid"]].sandbox.infra_id)["pid"]
    assert _adj(pid_of(node, best)) == 1000  # raising needs no privilege: never clamped
    if os.environ.get("MKPY_IN_VM") == "1":
        assert _has_cap_sys_resource(), "the VM lane runs as real root with every capability"
    if _has_cap_sys_resource():
        assert node.kubelet.oom_floor == -1000
        assert (_adj(pid_of(node, guar)), _adj(infra)) == (-997, -998)
    else:
        own = _adj(os.getpid())
        assert node.kubelet.oom_floor == own
        assert (_adj(pid_of(node, guar)), _adj(infra)) == (max(-997, own), max(-998, own))


@pytest.mark.vm
def test_oom_killed(node):
    node.start()
    node.apply("oom", busybox_pod("oom", {
        "name": "hog", "command": ["sh", "-c", "tail /dev/zero"],
        "resources": {"limits": {"memory": "24Mi", "cpu": "500m"}}}, restartPolicy="Never"))
    obj = node.wait("oom", lambda o: o["status"]["phase"] == "Failed", timeout=60, what="Failed")
    term = cs(obj)["state"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137
    assert obj["status"]["qosClass"] == "Guaranteed"


def test_secret_lives_on_tmpfs_and_configmap_files(node):
    objects = DictObjects(
        secrets={("default", "creds"): {"data": {"password": base64.b64encode(b"hunter2").decode()}}},
        configmaps={("default", "cfg"): {"data": {"greeting": "hello"}}})
    node.start(objects=objects)
    node.apply("vol", busybox_pod("vol", {
        "name": "c", "command": ["sh", "-c", "cat /secret/password; echo; cat /cfg/greeting; echo;"
                                 " touch /secret/x 2>/dev/null || echo read-only; sleep 1000"],
        "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
        "volumeMounts": [{"name": "s", "mountPath": "/secret"}, {"name": "c", "mountPath": "/cfg"}]},
        volumes=[{"name": "s", "secret": {"secretName": "creds", "defaultMode": 0o400}},
                 {"name": "c", "configMap": {"name": "cfg"}}]))
    obj = node.wait("vol", running, what="running")
    uid = obj["metadata"]["uid"]
    secret_dir = os.path.join(node.config.root, "pods", uid, "volumes", "kubernetes.io~secret", "s")
    with open("/proc/self/mountinfo") as f:
        mounts = {line.split()[4]: line.split(" - ")[1].split()[0] for line in f}
    assert mounts.get(secret_dir) == "tmpfs"
    cm_dir = os.path.join(node.config.root, "pods", uid, "volumes", "kubernetes.io~configmap", "c")
    assert cm_dir not in mounts                                  # configMaps are plain files on disk
    assert os.stat(os.path.join(secret_dir, "..data", "password")).st_mode & 0o777 == 0o400
    import time

    deadline = time.monotonic() + 10
    while "read-only" not in node.log("vol", "c") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node.log("vol", "c").split() == ["hunter2", "hello", "read-only"]
    node.remove("vol")
    node.wait_gone("vol")
    with open("/proc/self/mountinfo") as f:
        assert secret_dir not in f.read()


def test_missing_configmap_is_create_container_config_error(node):
    node.start(objects=DictObjects())
    node.apply("nocfg", busybox_pod("nocfg", {
        "name": "c", "command": ["sleep", "1000"],
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]}))
    obj = node.wait("nocfg", lambda o: "waiting" in cs(o)["state"]
                    and cs(o)["state"]["waiting"]["reason"] == "CreateContainerConfigError")
    assert cs(obj)["state"]["waiting"]["message"] == 'configmap "absent" not found'
    assert obj["status"]["phase"] == "Pending"


def test_http_endpoint_metrics_summary_logs(node):
    import json
    import urllib.request

    from minikube_py.kubelet.server import KubeletServer

    k = node.start()
    server = KubeletServer(k)
    port = server.start()
    try:
        node.apply("busy", busybox_pod("busy", {
            "name": "c", "command": ["sh", "-c", "echo started; while true; do :; done"],
            "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}}}))
        node.wait("busy", running)

        def get(path: str) -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return r.read().decode()

        assert get("/healthz") == "ok"
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pods = json.loads(get("/stats/summary"))["pods"]
            pod = next(p for p in pods if p["podRef"]["name"] == "busy-node1")
            if pod["cpu"]["usageCoreNanoSeconds"] > 0 and pod["containers"]:
                break
            time.sleep(0.2)
        assert pod["memory"]["workingSetBytes"] > 0 and pod["containers"][0]["name"] == "c"
        text = get("/metrics")
        assert 'pod_cpu_usage_seconds_total{namespace="default",pod="busy-node1"}' in text
        assert "kubelet_running_pods 1" in text
        assert get("/containerLogs/default/busy-node1/c") == "started\n"
        assert json.loads(get("/pods"))["items"][0]["status"]["phase"] == "Running"
        import subprocess
        import sys

        argv = [sys.executable, "-m", "minikube_py.cli.main", "kubelet", "--root", node.config.root, "top"]
        top = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()
        assert top[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
        name, cpu, _mem = top[1].split()
        # A busy loop gets some CPU, and never much more than its 200m quota (CFS enforces it).
        assert name == "busy-node1" and 0 < int(cpu.rstrip("m")) <= 300
    finally:
        server.stop()


def test_exec_and_port_forward_over_websocket(node):
    """What `kubectl exec` and `kubectl port-forward` reach through the API server."""
    import asyncio
    import json

    import aiohttp

    from minikube_py.kubelet.server import KubeletServer

    k = node.start()
    server = KubeletServer(k)
    port = server.start()
    try:
        node.apply("sh", busybox_pod("sh", {"name": "c", "command": [
            "sh", "-c", "mkdir /www; echo forwarded > /www/index.html; httpd -f -p 8080 -h /www"]}))
        node.wait("sh", running)

        async def talk():
            base = f"ws://127.0.0.1:{port}"
            out = {1: b"", 2: b"", 3: b""}
            async with aiohttp.ClientSession() as s:
                url = (f"{base}/exec/default/sh-node1/c?command=sh&command=-c"
                       "&command=cat;echo err>%262;exit%203&stdin=1&stdout=1&stderr=1")
                async with s.ws_connect(url, protocols=("v4.channel.k8s.io",)) as ws:
                    await ws.send_bytes(b"\x00hello via stdin\n")
                    await ws.send_bytes(b"\xff\x00")             # v5 close-stdin; v4 peers ignore it
                    async for msg in ws:
                        out[msg.data[0]] += msg.data[1:]
                fwd = b""
                async with s.ws_connect(f"{base}/portForward/default/sh-node1?ports=8080") as ws:
                    await ws.receive_bytes()                      # the port prefix on channel 0 ...
                    await ws.receive_bytes()                      # ... and on channel 1
                    await ws.send_bytes(b"\x00GET /index.html HTTP/1.0\r\n\r\n")
                    async for msg in ws:
                        if msg.data[0] == 0:
                            fwd += msg.data[1:]
            return out, fwd

        deadline = time.monotonic() + 10
        while True:
            out, fwd = asyncio.run(talk())
            if b"forwarded" in fwd or time.monotonic() > deadline:
                break
            time.sleep(0.2)                                        # httpd may not listen yet
        assert out[1] == b"hello via stdin\n" and out[2] == b"err\n"
        status = json.loads(out[3])
        assert status["status"] == "Failure" and status["details"]["causes"][0]["message"] == "3"
        assert fwd.startswith(b"HTTP/1.") and fwd.endswith(b"forwarded\n")
    finally:
        server.stop()
