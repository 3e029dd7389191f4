"""The guide's kubectl commands, typed as the guide has them, with real kubectl 1.20 (SPDY, openapi v2)
and the newest bundled kubectl 1.33 (WebSocket, openapi v3), against a real `mkpy up` node — and the
official Python client against the same node.

Each kubectl version walks the guide from an empty namespace to an empty namespace: apply, look,
logs, exec, port-forward, top, a changed re-apply watched with `get -w`, rollout undo, scale,
events, delete. The output is checked, not only exit codes: table headers are the ones kubectl
prints against a real cluster for these kinds, and rows must agree with the API's objects.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubectl_binaries import kubectl_binary
from waiting import wait_for as _wait_for

from integration.kubectl.tty import tty_session
from minikube_py.api.testing import free_port

from .conftest import IMAGE, SEED, GuideCluster

pytestmark = pytest.mark.integration
DEPLOY = "myapp-deployment"
POD_NAME = re.compile(rf"^{DEPLOY}-[a-z0-9]+-[a-z0-9]{{5}}$")

# What kubectl prints against a real cluster for these kinds (server-side Tables).
POD_COLUMNS = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
POD_WIDE = [*POD_COLUMNS, "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
SVC_COLUMNS = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
SVC_WIDE = [*SVC_COLUMNS, "SELECTOR"]
EVENT_COLUMNS = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
TOP_NODE = {
    "1.20": ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"],
    "1.33": ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],  # renamed in 1.31
}
TOP_POD = ["NAME", "CPU(cores)", "MEMORY(bytes)"]


# ------------------------------------------------------------------ running kubectl
class Kubectl:
    """`kubectl ...` as a student types it: KUBECONFIG exported, run in the guide's directory."""

    def __init__(self, binary: str, kubeconfig: str, cwd: Path = SEED) -> None:
        self.binary, self.cwd = binary, cwd
        self.env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"KUBECONFIG": kubeconfig}

    def __call__(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [self.binary, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def stream(self, *args: str) -> Lines:
        return Lines(
            subprocess.Popen(
                [self.binary, *args],
                cwd=self.cwd,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )


class Lines:
    """A long-running kubectl (logs -f, get -w, port-forward) whose output lines we wait for."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc, self.seen = proc, []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, test, what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no {what} from kubectl; it printed:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if test(line):
                return line

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Laps:
    """Prints how long each step took (pytest -rP shows it): where the suite's time goes."""

    def __init__(self, name: str) -> None:
        self.name, self.t0, self.last, self.step = name, time.monotonic(), time.monotonic(), "start"

    def __call__(self, step: str) -> None:
        now = time.monotonic()
        print(f"[{self.name}] {now - self.t0:6.1f} s  {now - self.last:5.1f} s  {self.step}")
        self.last, self.step = now, step


def poll(fn, what: str, timeout: float = 120):
    return _wait_for(what, fn, timeout, interval=0.3)


# ------------------------------------------------------------------ reading kubectl's tables
def tables(text: str) -> list[list[dict[str, str]]]:
    """kubectl's column output -> one list of rows per table (tables are separated by a blank line).
    Cells are cut at the header's column starts (a tabwriter aligns every cell of a column there),
    so headers with a space in them ("NOMINATED NODE", "LAST SEEN") stay one column."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        lines = block.splitlines()
        starts = [m.start() for m in re.finditer(r"(?:(?<=\s\s)|^)\S", lines[0])]
        names = [lines[0][a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows = [{"__header__": names}]  # type: ignore[dict-item]
        for line in lines[1:]:
            rows.append(
                {n: line[a:b].strip() for n, a, b in zip(names, starts, [*starts[1:], None], strict=True)}
            )
        out.append(rows)
    return out


def header(table: list[dict]) -> list[str]:
    return table[0]["__header__"]


def running_pods(guide: GuideCluster) -> dict[str, dict]:
    """The Deployment's pods that are Running and ready (and not being deleted), by name."""
    pods = guide.client.list("pods", "default", label_selector="app=myapp")["items"]
    return {
        p["metadata"]["name"]: p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and p.get("status", {}).get("phase") == "Running"
        and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])
    }


def rolled_out(guide: GuideCluster, replicas: int) -> dict[str, dict]:
    """Exactly `replicas` ready pods of the Deployment and no others left."""

    def done():
        ready = running_pods(guide)
        alive = guide.client.list("pods", "default", label_selector="app=myapp")["items"]
        return ready if len(ready) == replicas == len(alive) else None

    return poll(done, f"{replicas} ready pods and no others")


# ------------------------------------------------------------------ the walk through the guide
@pytest.mark.parametrize("version", ["1.20", "1.33"])
def test_guide_with_real_kubectl(guide_ns: GuideCluster, version: str, request, tmp_path):
    guide = guide_ns
    lap = Laps(version)
    k = Kubectl(kubectl_binary(request, version), guide.kubeconfig)
    assert re.search(rf"Client Version: .*v{re.escape(version)}\.", k("version").stdout), "the wrong kubectl"

    lap("Part 1")
    # -- Part 1: kubectl apply -f deployment.yaml / service.yaml (the first apply creates)
    assert k("apply", "-f", "deployment.yaml").stdout == f"deployment.apps/{DEPLOY} created\n"
    assert k("apply", "-f", "service.yaml").stdout == "service/myapp-service created\n"
    out = k("rollout", "status", f"deployment/{DEPLOY}", "--timeout=120s", timeout=150).stdout
    assert out.splitlines()[-1] == f'deployment "{DEPLOY}" successfully rolled out', out
    pods = rolled_out(guide, 3)
    assert all(POD_NAME.match(n) for n in pods), pods.keys()
    svc = poll(
        lambda: (
            (s := guide.client.get("services", "myapp-service"))["status"]
            .get("loadBalancer", {})
            .get("ingress")
            and s
        ),
        "a LoadBalancer IP",
    )
    cluster_ip, lb_ip = svc["spec"]["clusterIP"], svc["status"]["loadBalancer"]["ingress"][0]["ip"]
    node_port = svc["spec"]["ports"][0]["nodePort"]

    lap("kubectl get pods,services")
    # -- kubectl get pods,services: two tables, kubectl's columns, rows as the API has them
    pod_t, svc_t = tables(k("get", "pods,services").stdout)
    assert header(pod_t) == POD_COLUMNS and header(svc_t) == SVC_COLUMNS
    assert {r["NAME"]: (r["READY"], r["STATUS"], r["RESTARTS"]) for r in pod_t[1:]} == {
        f"pod/{n}": ("1/1", "Running", "0") for n in pods
    }
    rows = {r["NAME"]: r for r in svc_t[1:]}
    assert rows["service/kubernetes"]["TYPE"] == "ClusterIP"
    mine = rows["service/myapp-service"]
    assert (mine["TYPE"], mine["CLUSTER-IP"], mine["EXTERNAL-IP"], mine["PORT(S)"]) == (
        "LoadBalancer",
        cluster_ip,
        lb_ip,
        f"80:{node_port}/TCP",
    )

    pod_t, svc_t = tables(k("get", "pods,services", "-o", "wide").stdout)
    assert header(pod_t) == POD_WIDE and header(svc_t) == SVC_WIDE
    for r in pod_t[1:]:
        name = r["NAME"].removeprefix("pod/")
        assert (r["IP"], r["NODE"], r["NOMINATED NODE"], r["READINESS GATES"]) == (
            pods[name]["status"]["podIP"],
            guide.node,
            "<none>",
            "<none>",
        )
    assert {r["NAME"]: r["SELECTOR"] for r in svc_t[1:]}["service/myapp-service"] == "app=myapp"

    listed = yaml.safe_load(k("get", "pods,services", "-o", "yaml").stdout)
    assert listed["kind"] == "List" and listed["apiVersion"] == "v1"
    by_kind: dict[str, set[str]] = {}
    for item in listed["items"]:
        by_kind.setdefault(item["kind"], set()).add(item["metadata"]["name"])
    assert by_kind == {"Pod": set(pods), "Service": {"kubernetes", "myapp-service"}}
    some_pod = next(i for i in listed["items"] if i["kind"] == "Pod")
    assert some_pod["spec"]["containers"][0]["image"] == IMAGE
    assert some_pod["spec"]["nodeName"] == guide.node and some_pod["status"]["phase"] == "Running"

    lap("kubectl describe pod NAME")
    # -- kubectl describe pod NAME
    name = sorted(pods)[0]
    rs = pods[name]["metadata"]["ownerReferences"][0]["name"]
    described = k("describe", "pod", name).stdout
    fields = dict(re.findall(r"^([A-Z][A-Za-z ]+):[ \t]+(.+)$", described, re.M))
    assert fields["Name"] == name and fields["Namespace"] == "default"
    assert fields["Node"].startswith(f"{guide.node}/") and fields["Status"] == "Running"
    assert fields["IP"] == pods[name]["status"]["podIP"] and fields["Controlled By"] == f"ReplicaSet/{rs}"
    assert re.search(
        rf"^Containers:\n  myapp:\n(    .*\n)*?    Image:\s+{re.escape(IMAGE)}\n", described, re.M
    )
    assert re.search(r"^    Port:\s+3000/TCP$", described, re.M)
    assert re.search(r"^    State:\s+Running$", described, re.M) and re.search(
        r"^    Ready:\s+True$", described, re.M
    )
    events = described[described.index("\nEvents:") :]
    assert f"Successfully assigned default/{name} to {guide.node}" in events
    for reason in ("Scheduled", "Created", "Started"):
        assert re.search(rf"^\s+Normal\s+{reason}\s", events, re.M), events

    lap("kubectl logs -f NAME")
    # -- kubectl logs -f NAME: the app's start line, then a line per request (made through
    #    kubectl port-forward pod/NAME LOCAL:3000) arriving while kubectl follows
    with k.stream("logs", "-f", name) as logs:
        logs.wait_for(lambda x: x == f"myapp: {name} listening on port 3000", "the app's start line")
        local = free_port()
        with k.stream("port-forward", f"pod/{name}", f"{local}:3000") as pf:
            pf.wait_for(
                lambda x: x.startswith(f"Forwarding from 127.0.0.1:{local} -> 3000"), "Forwarding from"
            )
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=20) as resp:
                assert resp.read() == f"hello from {name}\n".encode()
        logs.wait_for(lambda x: x.endswith(": response:200"), "the request's log line")

    lap("kubectl logs -f deployment/myapp-deployment")
    # -- kubectl logs -f deployment/myapp-deployment: kubectl picks one of the pods
    with k.stream("logs", "-f", f"deployment/{DEPLOY}") as logs:
        line = logs.wait_for(lambda x: x.startswith("myapp: "), "a pod's start line")
        assert line.split()[1] in pods and line.endswith(" listening on port 3000")

    lap("kubectl port-forward service/myapp-service LOCAL")
    # -- kubectl port-forward service/myapp-service LOCAL:80 (kubectl maps 80 to targetPort 3000)
    local = free_port()
    with k.stream("port-forward", "service/myapp-service", f"{local}:80") as pf:
        pf.wait_for(lambda x: x.startswith(f"Forwarding from 127.0.0.1:{local} -> 3000"), "Forwarding from")
        with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=20) as resp:
            assert resp.read().decode().removeprefix("hello from ").strip() in pods

    lap("kubectl exec -it NAME -- /bin/sh, on a real pty")
    # -- kubectl exec -it NAME -- /bin/sh, on a real pty: typing, a window resize, an exit code
    seen, code = tty_session(
        [k.binary, "exec", "-it", name, "--", "/bin/sh"],
        exit_code=3,
        typed=((b"echo typed-$((6*7)) in $(hostname)", f"typed-42 in {name}".encode()),),
        kubeconfig=guide.kubeconfig,
    )
    assert code == 3 and b"command terminated with exit code 3" in seen, seen[-300:]

    lap("kubectl top nodes / top pods")
    # -- kubectl top nodes / top pods (metrics.k8s.io from the kubelet's cgroup figures)
    def top(*args: str):
        res = k("top", *args, check=False)
        return tables(res.stdout)[0] if res.returncode == 0 and res.stdout.strip() else None

    nodes = poll(lambda: top("nodes"), "kubectl top nodes to answer", 60)
    assert header(nodes) == TOP_NODE[version]
    (row,) = nodes[1:]
    assert row["NAME"] == guide.node and re.fullmatch(r"\d+m", row[TOP_NODE[version][1]])
    assert re.fullmatch(r"\d+Mi", row["MEMORY(bytes)"]) and re.fullmatch(r"\d+%", row[TOP_NODE[version][2]])
    top_pods = poll(lambda: (t := top("pods")) and len(t) == 4 and t, "metrics for the 3 pods", 60)
    assert header(top_pods) == TOP_POD and {r["NAME"] for r in top_pods[1:]} == set(pods)
    assert all(
        re.fullmatch(r"\d+m", r["CPU(cores)"]) and re.fullmatch(r"\d+Mi", r["MEMORY(bytes)"])
        for r in top_pods[1:]
    )

    lap("a changed re-apply")
    # -- a changed re-apply (2 replicas, a new env var: a new revision), watched with get pods -w
    changed = tmp_path / "deployment.yaml"
    changed.write_text(
        (SEED / "deployment.yaml")
        .read_text()
        .replace("replicas: 3", "replicas: 2")
        .replace(
            "        - containerPort: 3000\n",
            "        - containerPort: 3000\n        env:\n        - name: GREETING\n          value: v2\n",
        )
    )
    edited = Kubectl(k.binary, guide.kubeconfig, cwd=tmp_path)
    with k.stream("get", "pods", "-w") as watch:
        watch.wait_for(lambda x: x.split() == POD_COLUMNS, "the header")
        assert edited("apply", "-f", "deployment.yaml").stdout == f"deployment.apps/{DEPLOY} configured\n"
        assert k("apply", "-f", "service.yaml").stdout == "service/myapp-service unchanged\n"
        # a new pod of the new ReplicaSet shows up in the watch, and later as Running
        new = watch.wait_for(
            lambda x: x.split()[:1] and x.split()[0] not in pods and POD_NAME.match(x.split()[0]),
            "a row for a pod of the new revision",
        )
        new_name = new.split()[0]
        watch.wait_for(lambda x: x.split()[:3] == [new_name, "1/1", "Running"], f"{new_name} Running", 90)
    out = k("rollout", "status", f"deployment/{DEPLOY}", "--timeout=120s", timeout=150).stdout
    assert out.splitlines()[-1] == f'deployment "{DEPLOY}" successfully rolled out', out
    v2 = rolled_out(guide, 2)
    assert all(
        p["spec"]["containers"][0].get("env") == [{"name": "GREETING", "value": "v2"}] for p in v2.values()
    )
    assert not set(v2) & set(pods)

    # the Service, changed (a label) and applied again: a patch that keeps what the server
    # allocated — cluster IP, node port and load-balancer IP stay as they were
    (tmp_path / "service.yaml").write_text(
        (SEED / "service.yaml")
        .read_text()
        .replace("  name: myapp-service\n", "  name: myapp-service\n  labels:\n    tier: frontend\n")
    )
    assert edited("apply", "-f", "service.yaml").stdout == "service/myapp-service configured\n"
    (row,) = tables(k("get", "services", "-l", "tier=frontend").stdout)[0][1:]
    assert (row["NAME"], row["TYPE"], row["CLUSTER-IP"], row["EXTERNAL-IP"], row["PORT(S)"]) == (
        "myapp-service",
        "LoadBalancer",
        cluster_ip,
        lb_ip,
        f"80:{node_port}/TCP",
    )

    lap("kubectl rollout undo")
    # -- kubectl rollout undo: back to the first revision's template (the replica count stays 2)
    assert k("rollout", "undo", f"deployment/{DEPLOY}").stdout == f"deployment.apps/{DEPLOY} rolled back\n"
    out = k("rollout", "status", f"deployment/{DEPLOY}", "--timeout=120s", timeout=150).stdout
    assert out.splitlines()[-1] == f'deployment "{DEPLOY}" successfully rolled out', out
    v1 = rolled_out(guide, 2)
    assert all("env" not in p["spec"]["containers"][0] for p in v1.values())
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in v1.values()} == {rs}  # the first ReplicaSet

    lap("kubectl scale")
    # -- kubectl scale
    assert k("scale", f"deployment/{DEPLOY}", "--replicas=3").stdout == f"deployment.apps/{DEPLOY} scaled\n"
    final = rolled_out(guide, 3)
    pod_t = tables(k("get", "pods").stdout)[0]
    assert header(pod_t) == POD_COLUMNS
    assert {r["NAME"]: (r["READY"], r["STATUS"]) for r in pod_t[1:]} == {n: ("1/1", "Running") for n in final}

    lap("kubectl get events --sort-by=.metadata.creationTimestamp")
    # -- kubectl get events --sort-by=.metadata.creationTimestamp
    ev_t = tables(k("get", "events", "--sort-by=.metadata.creationTimestamp").stdout)[0]
    assert header(ev_t) == EVENT_COLUMNS
    created: dict[tuple, list[str]] = {}  # (reason, object, message) -> creationTimestamps, oldest first
    for e in guide.client.list("events", "default")["items"]:
        obj = f"{e['involvedObject']['kind'].lower()}/{e['involvedObject']['name']}"
        created.setdefault((e["reason"], obj, e["message"]), []).append(e["metadata"]["creationTimestamp"])
    for stamps in created.values():
        stamps.sort()
    # The same event can recur (the ReplicaSet's name is a hash of its template, so the first
    # run's events name it too): a sorted listing shows the i-th one of them i-th.
    stamps = [created[(r["REASON"], r["OBJECT"], r["MESSAGE"])].pop(0) for r in ev_t[1:]]
    assert len(ev_t) > 10 and stamps == sorted(stamps), "not sorted by creationTimestamp"
    reasons = {(r["REASON"], r["OBJECT"].split("/")[0]) for r in ev_t[1:]}
    for want in [
        ("Scheduled", "pod"),
        ("Started", "pod"),
        ("SuccessfulCreate", "replicaset"),
        ("ScalingReplicaSet", "deployment"),
    ]:
        assert want in reasons, reasons
    # kube-controller-manager's wording; after 10 different messages about one Deployment within
    # 10 minutes, client-go's aggregator prefixes "(combined from similar events): " (so do we)
    scaled = f"Scaled up replica set {rs} to 3 from 2"
    assert any(
        r["REASON"] == "ScalingReplicaSet" and r["MESSAGE"].endswith(scaled) for r in ev_t[1:]
    ), [r["MESSAGE"] for r in ev_t[1:] if r["REASON"] == "ScalingReplicaSet"]

    lap("kubectl delete -f")
    # -- kubectl delete -f: the Deployment, its pods (garbage collected) and the Service go
    out = k("delete", "-f", "deployment.yaml", timeout=120).stdout
    assert out.startswith(f'deployment.apps "{DEPLOY}" deleted'), out
    out = k("delete", "-f", "service.yaml", timeout=120).stdout
    assert out.startswith('service "myapp-service" deleted'), out
    gone = poll(lambda: (r := k("get", "pods,services")).stdout.count("\n") == 2 and r, "pods to go", 90)
    (svc_t,) = tables(gone.stdout)
    assert header(svc_t) == SVC_COLUMNS and [r["NAME"] for r in svc_t[1:]] == ["service/kubernetes"]
    guide.wait_no_pods()
    lap("done")


# ------------------------------------------------------------------ the official Python client
def test_python_client_against_the_node(guide_ns: GuideCluster):
    """CRUD, list with a label selector, watch resumed from a resourceVersion, and stream() exec
    into a running pod of the guide's image, with the official client (`pip install kubernetes`)."""
    guide = guide_ns
    from kubernetes import client as k8s
    from kubernetes import config, watch
    from kubernetes.stream import stream

    api = config.new_client_from_config(config_file=guide.kubeconfig)
    v1 = k8s.CoreV1Api(api)
    try:
        # CRUD on a ConfigMap
        cm = v1.create_namespaced_config_map(
            "default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="py-settings"), data={"greeting": "hi"})
        )
        cm.data["greeting"] = "hello"
        assert v1.replace_namespaced_config_map("py-settings", "default", cm).data == {"greeting": "hello"}
        assert v1.read_namespaced_config_map("py-settings", "default").data == {"greeting": "hello"}
        v1.delete_namespaced_config_map("py-settings", "default")
        with pytest.raises(k8s.ApiException) as missing:
            v1.read_namespaced_config_map("py-settings", "default")
        assert missing.value.status == 404

        # a pod of the guide's image; the watch starts from the list's resourceVersion
        start = v1.list_namespaced_pod("default", label_selector="app=py").metadata.resource_version
        pod = k8s.V1Pod(
            metadata=k8s.V1ObjectMeta(name="py-web", labels={"app": "py", "tier": "web"}),
            spec=k8s.V1PodSpec(
                termination_grace_period_seconds=2, containers=[k8s.V1Container(name="web", image=IMAGE)]
            ),
        )
        assert v1.create_namespaced_pod("default", pod).status.phase == "Pending"
        assert [
            p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="app=py,tier=web").items
        ] == ["py-web"]
        assert v1.list_namespaced_pod("default", label_selector="app=py,tier!=web").items == []
        assert v1.list_namespaced_pod(
            "default", label_selector="app in (py)", field_selector="metadata.name=py-web"
        ).items[0].metadata.labels == {"app": "py", "tier": "web"}

        seen, last = [], start
        for ev in watch.Watch().stream(
            v1.list_namespaced_pod,
            "default",
            label_selector="app=py",
            resource_version=start,
            timeout_seconds=60,
        ):
            seen.append((ev["type"], ev["object"].status.phase))
            last = ev["object"].metadata.resource_version
            if ev["object"].status.phase == "Running":
                break
        assert seen[0] == ("ADDED", "Pending") and seen[-1] == ("MODIFIED", "Running"), seen

        # resume from the last event seen: only what happened after it arrives
        v1.patch_namespaced_pod("py-web", "default", {"metadata": {"labels": {"resumed": "yes"}}})
        resumed = next(
            iter(
                watch.Watch().stream(
                    v1.list_namespaced_pod,
                    "default",
                    label_selector="app=py",
                    resource_version=last,
                    timeout_seconds=30,
                )
            )
        )
        assert resumed["type"] == "MODIFIED" and resumed["object"].metadata.labels["resumed"] == "yes"
        assert int(resumed["object"].metadata.resource_version) > int(last)

        # stream() exec over WebSocket: output, then an exit code from the error channel
        out = stream(
            v1.connect_get_namespaced_pod_exec,
            "py-web",
            "default",
            command=["sh", "-c", "hostname; cat /srv/index.html"],
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
        )
        assert out == "py-web\nhello from py-web\n"
        ws = stream(
            v1.connect_get_namespaced_pod_exec,
            "py-web",
            "default",
            command=["sh", "-c", "read x; exit $x"],
            stdout=True,
            stderr=True,
            stdin=True,
            tty=False,
            _preload_content=False,
        )
        ws.write_stdin("4\n")
        ws.run_forever(timeout=20)
        assert ws.returncode == 4

        v1.delete_namespaced_pod("py-web", "default")
        poll(lambda: not v1.list_namespaced_pod("default", label_selector="app=py").items, "py-web to go", 60)
    finally:
        for delete in (
            lambda: v1.delete_namespaced_pod("py-web", "default", grace_period_seconds=0),
            lambda: v1.delete_namespaced_config_map("py-settings", "default"),
        ):
            try:
                delete()
            except k8s.ApiException:
                pass
        api.close()
    guide.wait_no_pods()
