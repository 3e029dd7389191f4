"""Real busybox pods through the kubelet: start, env, logs, restarts, probes, init order, delete."""

import json
import os
import time

import pytest

from minikube_py.kubelet.kubelet import _epoch

from .conftest import busybox_pod

pytestmark = pytest.mark.integration


def cs(obj, name=None):
    statuses = obj["status"].get("containerStatuses") or []
    return statuses[0] if name is None else next(s for s in statuses if s["name"] == name)


def running(obj):
    return obj["status"]["phase"] == "Running" and all("running" in s["state"] for s in
                                                       obj["status"]["containerStatuses"])


def test_pod_runs_with_env_hostname_and_logs(node):
    node.start()
    node.apply("web", busybox_pod("web", {
        "name": "app", "command": ["sh", "-c", "echo pod=$(POD) ns=$MY_NS; hostname; "
                                   "cat /etc/resolv.conf >/dev/null && echo resolv; sleep 1000"],
        "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]},
        securityContext={"seccompProfile": {"type": "RuntimeDefault"}}))
    obj = node.wait("web", running, what="running")
    assert cs(obj)["ready"] and cs(obj)["started"] and cs(obj)["restartCount"] == 0
    assert obj["status"]["qosClass"] == "BestEffort"
    conds = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert conds == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True",
                     "Ready": "True"}
    deadline = time.monotonic() + 10
    while "resolv" not in node.log("web", "app") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node.log("web", "app").splitlines() == ["pod=web-node1 ns=default", "web-node1", "resolv"]
    reasons = [e["reason"] for e in node.events("web")]
    assert reasons[:3] == ["Pulled", "Created", "Started"]
    node.remove("web")
    node.wait_gone("web")


def test_crashing_container_restarts_with_backoff(node):
    """restartPolicy Always: RESTARTS climbs, CrashLoopBackOff in between, and the gaps between
    starts are never shorter than the back-off (1 s, 2 s, 4 s in this test's config)."""
    node.start()
    node.apply("crash", busybox_pod("crash", {"name": "c", "command": ["sh", "-c", "echo boom; exit 3"]}))
    seen_backoff = node.wait("crash", lambda o: (cs(o)["state"].get("waiting") or {}).get("reason")
                             == "CrashLoopBackOff", what="CrashLoopBackOff")
    assert cs(seen_backoff)["lastState"]["terminated"]["exitCode"] == 3
    assert cs(seen_backoff)["lastState"]["terminated"]["reason"] == "Error"
    obj = node.wait("crash", lambda o: cs(o)["restartCount"] >= 4, timeout=40, what="4 restarts")
    assert obj["status"]["phase"] == "Running"         # Always: the pod is "running", restarting
    # From the 4th restart on the back-off has doubled 1 -> 2 -> 4 s (this test's cap): the newest
    # attempt started at least 4 s after the one before it exited.
    node.stop()
    rt = node.config.runtime_root
    by_attempt = {int(d.rsplit("_", 1)[1]): d for d in os.listdir(rt) if d.startswith("k8s_c_")}
    last = max(by_attempt)
    assert last >= 4 and sorted(by_attempt) == [last - 1, last]   # older dead instances are gc'd
    with open(os.path.join(rt, by_attempt[last - 1], "exit.json")) as f:
        finished = _epoch(json.load(f)["finishedAt"])
    with open(os.path.join(rt, by_attempt[last], "started")) as f:
        started = _epoch(f.read().strip())
    assert started - finished >= 4.0 - 0.01
    # Logs: the current and the previous attempt are kept (kubectl logs / logs --previous), no more.
    assert node.log("crash", "c", last - 1) == "boom\n"
    [pod_logs] = os.listdir(node.config.log_root)
    log_dir = os.path.join(node.config.log_root, pod_logs, "c")
    assert sorted(os.listdir(log_dir)) == sorted([f"{last - 1}.log", f"{last}.log"])
    reasons = {e["reason"]: e for e in node.events("crash")}
    assert reasons["Started"]["count"] >= 5 and reasons["BackOff"]["type"] == "Warning"
    assert "exitCode" in cs(obj)["lastState"]["terminated"]


def test_restart_policy_never_and_onfailure(node):
    node.start()
    for name, code, policy in (("once", 0, "Never"), ("fail", 7, "Never"), ("onf", 0, "OnFailure")):
        c = {"name": "c", "command": ["sh", "-c", f"echo last words; exit {code}"],
             "terminationMessagePolicy": "FallbackToLogsOnError"}
        node.apply(name, busybox_pod(name, c, restartPolicy=policy))
    ok = node.wait("once", lambda o: o["status"]["phase"] == "Succeeded", what="Succeeded")
    assert cs(ok)["state"]["terminated"]["reason"] == "Completed" and cs(ok)["restartCount"] == 0
    bad = node.wait("fail", lambda o: o["status"]["phase"] == "Failed", what="Failed")
    assert cs(bad)["state"]["terminated"]["exitCode"] == 7
    assert cs(bad)["state"]["terminated"]["message"] == "last words\n"     # FallbackToLogsOnError
    onf = node.wait("onf", lambda o: o["status"]["phase"] == "Succeeded", what="Succeeded")
    assert cs(onf)["restartCount"] == 0
    # A finished pod gives its sandbox back: no infra container, no netns.
    assert not [n for n in os.listdir(node.config.netns_dir) if n.startswith(node.config.netns_prefix)]


def test_init_containers_run_in_order_before_apps(node):
    node.start()
    node.apply("init", busybox_pod(
        "init", {"name": "app", "command": ["sh", "-c", "cat /work/order; sleep 1000"],
                 "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
        initContainers=[{"name": f"step{i}", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                         "command": ["sh", "-c", f"echo step{i} >> /work/order"],
                         "volumeMounts": [{"name": "work", "mountPath": "/work"}]} for i in range(3)],
        volumes=[{"name": "work", "emptyDir": {}}]))
    obj = node.wait("init", running, what="running")
    inits = obj["status"]["initContainerStatuses"]
    assert [s["state"]["terminated"]["reason"] for s in inits] == ["Completed"] * 3
    deadline = time.monotonic() + 10
    while not node.log("init", "app") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node.log("init", "app").split() == ["step0", "step1", "step2"]


def test_failing_init_container_is_retried(node):
    node.start()
    node.apply("initfail", busybox_pod(
        "initfail", {"name": "app", "command": ["sleep", "1000"]},
        initContainers=[{"name": "setup", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                         "command": ["sh", "-c", "exit 1"]}]))
    obj = node.wait("initfail", lambda o: o["status"]["initContainerStatuses"][0]["restartCount"] >= 1,
                    what="init retried")
    assert obj["status"]["phase"] == "Pending"
    assert cs(obj)["state"]["waiting"]["reason"] == "PodInitializing"


def test_liveness_probe_restarts_hung_container(node):
    node.start()
    node.apply("live", busybox_pod("live", {
        "name": "c", "command": ["sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 1000"],
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1,
                          "failureThreshold": 2}}, terminationGracePeriodSeconds=1))
    obj = node.wait("live", lambda o: cs(o)["restartCount"] >= 1, timeout=40, what="a liveness restart")
    reasons = [e["reason"] for e in node.events("live")]
    assert "Unhealthy" in reasons and "Killing" in reasons
    kill = next(e for e in node.events("live") if e["reason"] == "Killing")
    assert kill["message"] == "Container c failed liveness probe, will be restarted"
    assert cs(obj)["lastState"]["terminated"]["exitCode"] in (137, 143)


def test_readiness_probe_flips_ready(node):
    node.start()
    node.apply("ready", busybox_pod("ready", {
        "name": "c", "command": ["sh", "-c", "sleep 1000"],
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1,
                           "failureThreshold": 1}}))
    obj = node.wait("ready", running, what="running")
    assert not cs(obj)["ready"]
    assert {c["type"]: c["status"] for c in obj["status"]["conditions"]}["Ready"] == "False"
    k = node.kubelet
    cid = cs(obj)["containerID"].split("://")[1]
    assert k.runtime.exec(cid, ["touch", "/tmp/ready"], timeout=10).returncode == 0
    obj = node.wait("ready", lambda o: cs(o)["ready"], what="ready")
    assert {c["type"]: c["status"] for c in obj["status"]["conditions"]}["Ready"] == "True"
    assert k.runtime.exec(cid, ["rm", "/tmp/ready"], timeout=10).returncode == 0
    node.wait("ready", lambda o: not cs(o)["ready"], what="unready again")
    assert cs(node.status("ready"))["restartCount"] == 0       # readiness never restarts


def test_graceful_delete_term_then_kill(node):
    node.start()
    stubborn = {"name": "stubborn", "command": ["sh", "-c", "trap '' TERM; sleep 1000"]}
    node.apply("grace", busybox_pod("grace", stubborn, terminationGracePeriodSeconds=1))
    node.wait("grace", running)
    t0 = time.monotonic()
    node.remove("grace")
    node.wait_gone("grace")
    assert time.monotonic() - t0 >= 1.0       # it waited the grace period before SIGKILL
    assert node.kubelet.runtime.list() == []


def test_sidecar_init_container_runs_beside_the_app(node):
    """restartPolicy: Always on an init container makes it a sidecar: started before the next
    init container, running next to the app, restarted when it exits, stopped after the app."""
    node.start()
    node.apply("side", busybox_pod(
        "side", {"name": "app", "command": ["sh", "-c", "sleep 3; echo done"]},
        restartPolicy="Never",
        initContainers=[
            {"name": "log-shipper", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
             "restartPolicy": "Always", "command": ["sh", "-c", "sleep 1; exit 1"]},
            {"name": "setup", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
             "command": ["true"]}]))
    obj = node.wait("side", lambda o: o["status"]["phase"] == "Running", what="running")
    side = obj["status"]["initContainerStatuses"][0]
    assert side["name"] == "log-shipper"
    obj = node.wait("side", lambda o: o["status"]["initContainerStatuses"][0]["restartCount"] >= 1,
                    what="the sidecar restarted although restartPolicy is Never")
    done = node.wait("side", lambda o: o["status"]["phase"] == "Succeeded", timeout=30, what="Succeeded")
    assert cs(done, "app")["state"]["terminated"]["reason"] == "Completed"
    assert "running" not in done["status"]["initContainerStatuses"][0]["state"]   # stopped with the pod
