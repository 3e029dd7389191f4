"""`mkpy get/apply/create/delete/scale` next to real kubectl, on the same objects."""

from __future__ import annotations

import json
import time

from .conftest import SEED, aligned, normalize, same_as_kubectl, wait_for


def both(cluster, *args: str, check: bool = True):
    k = cluster.kubectl(*args, check=check)
    m = cluster.mkpy(*args, check=check)
    return k, m


def test_apply_created_unchanged_configured_and_get_like_kubectl(cluster, tmp_path):
    ns = "mkpyt-cli-get"
    cluster.kubectl("create", "namespace", ns)
    d, s = f"{SEED}/deployment.yaml", f"{SEED}/service.yaml"
    out = cluster.mkpy("apply", "-n", ns, "-f", d, "-f", s).stdout
    assert out == "deployment.apps/myapp-deployment created\nservice/myapp-service created\n"
    assert cluster.mkpy("apply", "-n", ns, "-f", SEED).stdout == (
        "deployment.apps/myapp-deployment unchanged\nservice/myapp-service unchanged\n"
    )
    # The annotation we write is byte for byte what kubectl writes, so either tool can take over.
    assert (
        cluster.kubectl("apply", "-n", ns, "-f", d).stdout == "deployment.apps/myapp-deployment unchanged\n"
    )
    wait_for(
        lambda: (
            cluster.client.get("deployments", "myapp-deployment", ns).get("status", {}).get("readyReplicas")
            == 3
        ),
        what="3 ready replicas",
    )

    # Several kinds at once: kind/name prefixes, a blank line between kinds.
    m = same_as_kubectl(cluster, "get", "pods,services", "-n", ns)
    assert aligned(m.stdout) and "\n\nNAME" in m.stdout and "service/myapp-service" in m.stdout
    assert len([line for line in m.stdout.splitlines() if line.startswith("pod/myapp-deployment-")]) == 3
    for args in (
        ("get", "deploy", "-o", "wide"),
        ("get", "po", "-o", "wide"),
        ("get", "rs"),
        ("get", "svc", "--show-labels"),
        ("get", "ep"),
        ("get", "pods", "-l", "app=myapp", "--sort-by=.metadata.name"),
    ):
        m = same_as_kubectl(cluster, *args, "-n", ns)
        assert aligned(m.stdout), m.stdout
    k, m = both(cluster, "get", "deploy", "-A")
    assert normalize(m.stdout) == normalize(k.stdout) and m.stdout.startswith("NAMESPACE")
    for args in (("get", "no"), ("get", "ns")):
        k, m = both(cluster, *args)
        assert normalize(m.stdout) == normalize(k.stdout), args

    # Outputs without ages must match exactly.
    for args in (
        ("get", "po,deploy,rs,svc", "-o", "name"),
        ("get", "deploy", "myapp-deployment", "-o", "jsonpath={.spec.template.spec.containers[0].image}"),
        (
            "get",
            "svc",
            "-o",
            'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.spec.ports[0].port}{"\\n"}{end}',
        ),
        ("get", "pods", "-o", 'jsonpath={.items[?(@.status.phase=="Running")].metadata.labels.app}'),
        ("get", "deploy", "myapp-deployment", "-o", "yaml"),
        ("get", "svc", "-o", "json"),
        ("get", "secrets"),
        ("get", "cm", "nope"),
    ):
        k, m = both(cluster, *args, "-n", ns, check=False)
        assert (m.stdout, m.stderr, m.returncode) == (k.stdout, k.stderr, k.returncode), args
    assert m.returncode == 1 and m.stderr == 'Error from server (NotFound): configmaps "nope" not found\n'

    # A changed replicas count is "configured"; scale goes through /scale.
    changed = tmp_path / "deployment.yaml"
    changed.write_text(open(d).read().replace("replicas: 3", "replicas: 2"))
    assert (
        cluster.mkpy("apply", "-n", ns, "-f", str(changed)).stdout
        == "deployment.apps/myapp-deployment configured\n"
    )
    assert cluster.client.get("deployments", "myapp-deployment", ns)["spec"]["replicas"] == 2
    assert cluster.mkpy("scale", "-n", ns, "deployment/myapp-deployment", "--replicas=4").stdout == (
        "deployment.apps/myapp-deployment scaled\n"
    )
    assert cluster.client.get("deployments", "myapp-deployment", ns)["spec"]["replicas"] == 4
    out = cluster.mkpy("delete", "-n", ns, "-f", str(changed), "-f", s).stdout
    assert out == 'deployment.apps "myapp-deployment" deleted\nservice "myapp-service" deleted\n'
    assert cluster.client.list("services", ns, field_selector="metadata.name=myapp-service")["items"] == []


def test_apply_three_way_removes_what_you_removed_and_keeps_others_changes(cluster, tmp_path):
    ns = "mkpyt-cli-3way"
    cluster.kubectl("create", "namespace", ns)
    cm = tmp_path / "cm.yaml"
    cm.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels: {a: '1', b: '2'}\n"
        "data:\n  one: '1'\n  two: '2'\n"
    )
    assert cluster.mkpy("apply", "-n", ns, "-f", str(cm)).stdout == "configmap/cfg created\n"
    # Someone else adds a key: apply must leave it (it was never in our last-applied).
    cluster.client.patch("configmaps", "cfg", {"data": {"theirs": "x"}}, ns)
    cm.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels: {a: '1'}\ndata:\n  one: '1'\n"
    )
    assert cluster.mkpy("apply", "-n", ns, "-f", str(cm)).stdout == "configmap/cfg configured\n"
    got = cluster.client.get("configmaps", "cfg", ns)
    assert got["data"] == {"one": "1", "theirs": "x"} and got["metadata"]["labels"] == {"a": "1"}
    assert cluster.mkpy("apply", "-n", ns, "-f", str(cm)).stdout == "configmap/cfg unchanged\n"

    # A container dropped from a strategic-merge list goes; an env var changes in place.
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "two"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "two"}},
            "template": {
                "metadata": {"labels": {"app": "two"}},
                "spec": {
                    "containers": [
                        {"name": "a", "image": "busybox:1", "env": [{"name": "X", "value": "1"}]},
                        {"name": "b", "image": "busybox:1"},
                    ]
                },
            },
        },
    }
    assert cluster.mkpy("apply", "-n", ns, "-f", "-", input=json.dumps(dep)).stdout == (
        "deployment.apps/two created\n"
    )
    dep["spec"]["template"]["spec"]["containers"] = [
        {"name": "a", "image": "busybox:2", "env": [{"name": "X", "value": "2"}]}
    ]
    assert cluster.mkpy("apply", "-n", ns, "-f", "-", input=json.dumps(dep)).stdout == (
        "deployment.apps/two configured\n"
    )
    ctrs = cluster.client.get("deployments", "two", ns)["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"], c["env"]) for c in ctrs] == [
        ("a", "busybox:2", [{"name": "X", "value": "2"}])
    ]
    # kubectl sees nothing left to do after our apply.
    assert cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(dep)).stdout == (
        "deployment.apps/two unchanged\n"
    )

    # create: a second time is AlreadyExists, like kubectl; delete -l; delete of a missing one fails.
    k, m = both(cluster, "create", "-n", ns, "-f", str(cm), check=False)
    assert m.returncode == k.returncode == 1
    assert (
        m.stderr.startswith("Error from server (AlreadyExists)")
        and 'configmaps "cfg" already exists' in m.stderr
    )
    cluster.client.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "l1", "labels": {"x": "y"}}}, ns
    )
    assert (
        cluster.mkpy("delete", "-n", ns, "cm", "-l", "x=y", "--wait=false").stdout
        == 'configmap "l1" deleted\n'
    )
    k, m = both(cluster, "delete", "-n", ns, "cm", "l1", check=False)
    assert (
        (m.stderr, m.returncode)
        == (k.stderr, k.returncode)
        == (
            'Error from server (NotFound): configmaps "l1" not found\n',
            1,
        )
    )


def test_get_watch_prints_new_rows(cluster):
    ns = "mkpyt-cli-watch"
    cluster.kubectl("create", "namespace", ns)
    proc = cluster.popen_mkpy("get", "cm", "-n", ns, "-w")
    try:
        cluster.client.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w1"}, "data": {"a": "b"}}, ns
        )
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            lines.append(line)
            if line.startswith("w1"):
                break
        assert lines[0].split() == ["NAME", "DATA", "AGE"]
        assert lines[-1].split()[:2] == ["w1", "1"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_errors_are_short_with_kubectl_exit_codes(cluster, tmp_path):
    # Nothing listens: the student is told to start the node.
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(open(cluster.kubeconfig).read().replace(cluster.api.url, "https://127.0.0.1:9"))
    # Global flags before the verb, as kubectl users type them.
    m = cluster.mkpy("-n", "mkpyt-cli-get", "--kubeconfig", cluster.kubeconfig, "get", "svc", "-o", "name")
    assert m.stdout == "" and m.stderr == "No resources found in mkpyt-cli-get namespace.\n"
    m = cluster.mkpy("get", "pods", "--kubeconfig", str(dead), check=False)
    assert m.returncode == 1 and "the node is not running: run `sudo mkpy up`" in m.stderr
    assert len(m.stderr.splitlines()) == 1
    m = cluster.mkpy("get", "deployments", "nope", check=False)
    assert (m.returncode, m.stderr) == (
        1,
        'Error from server (NotFound): deployments.apps "nope" not found\n',
    )
    m = cluster.mkpy("get", "frobs", check=False)
    assert m.returncode == 1 and 'the server doesn\'t have a resource type "frobs"' in m.stderr
    m = cluster.mkpy("apply", "-f", str(tmp_path / "missing.yaml"), check=False)
    assert m.returncode == 1 and "does not exist" in m.stderr
    m = cluster.mkpy("get", "pods", "--context", "nope", check=False)
    assert m.returncode == 1 and "context was not found for specified context: nope" in m.stderr
    # An invalid object: one line per bad field, exactly as kubectl prints it; nothing is created.
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\nspec: {ports: [{port: 99999}]}\n"
    )
    k = cluster.kubectl("apply", "-f", str(bad), check=False)
    m = cluster.mkpy("apply", "-f", str(bad), check=False)
    assert (m.returncode, m.stderr) == (k.returncode, k.stderr)
    assert m.stderr.startswith('The Service "Bad_Name" is invalid: \n* metadata.name: Invalid value')
    m = cluster.mkpy("exec", "somepod", check=False)
    assert (m.returncode, m.stderr) == (1, "error: you must specify at least one command for the container\n")
    # The API server now serves metrics.k8s.io; with no kubelet reporting, `top` answers as
    # kubectl does for the same cluster.
    k = cluster.kubectl("top", "nodes", check=False)
    m = cluster.mkpy("top", "nodes", check=False)
    assert (m.returncode, m.stdout, m.stderr) == (k.returncode, k.stdout, k.stderr)


def _waiting(reason: str) -> dict:
    return {"waiting": {"reason": reason}}


def test_status_column_shows_what_users_debug_by(cluster):
    """The STATUS reasons of kubectl (server-side Table) for pods in every trouble we can stage."""
    ns = "mkpyt-cli-status"
    cluster.kubectl("create", "namespace", ns)
    cases = {
        "creating": ("Pending", _waiting("ContainerCreating"), 0),
        "crashing": ("Running", _waiting("CrashLoopBackOff"), 4),
        "backoff": ("Pending", _waiting("ImagePullBackOff"), 0),
        "errpull": ("Pending", _waiting("ErrImagePull"), 0),
        "oom": ("Running", {"terminated": {"reason": "OOMKilled", "exitCode": 137}}, 1),
        "done": ("Succeeded", {"terminated": {"reason": "Completed", "exitCode": 0}}, 0),
    }
    for name, (phase, state, restarts) in cases.items():
        cluster.client.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": {"mkpyt-manual": "1"}},
                # Bound to a node no kubelet serves: nobody but this test writes its status.
                "spec": {"nodeName": "mkpyt-cli-nowhere", "containers": [{"name": "c", "image": "busybox"}]},
            },
            ns,
        )
        pod = cluster.client.get("pods", name, ns)
        pod["status"] = {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "c",
                    "ready": False,
                    "restartCount": restarts,
                    "image": "busybox",
                    "imageID": "",
                    "state": state,
                }
            ],
        }
        cluster.client.update_status(pod)
    cluster.client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "waiting", "labels": {"mkpyt-manual": "1"}},
            "spec": {"nodeName": "mkpyt-cli-nowhere", "containers": [{"name": "c", "image": "b"}]},
        },
        ns,
    )
    m = same_as_kubectl(cluster, "get", "pods", "-n", ns)
    status = {line.split()[0]: line.split()[2] for line in m.stdout.splitlines()[1:]}
    assert status == {
        "backoff": "ImagePullBackOff",
        "crashing": "CrashLoopBackOff",
        "creating": "ContainerCreating",
        "done": "Completed",
        "errpull": "ErrImagePull",
        "oom": "OOMKilled",
        "waiting": "Pending",
    }
    same_as_kubectl(cluster, "get", "all", "-n", ns)
    # No kubelet confirms this deletion, so the pod stays, Terminating (and delete --wait=false returns).
    out = cluster.mkpy("delete", "pod", "waiting", "-n", ns, "--wait=false").stdout
    assert out == 'pod "waiting" deleted\n'
    m = same_as_kubectl(cluster, "get", "pod", "waiting", "-n", ns)
    assert m.stdout.splitlines()[1].split()[2] == "Terminating"


def test_context_and_its_namespace(cluster, tmp_path):
    """A second context whose namespace is not `default`: `--context` switches to it."""
    import yaml

    cfg = yaml.safe_load(open(cluster.kubeconfig))
    ctx = dict(cfg["contexts"][0])
    ctx = {"name": "other", "context": dict(ctx["context"], namespace="mkpyt-cli-ctx")}
    cfg["contexts"].append(ctx)
    path = tmp_path / "two.kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    cluster.kubectl("create", "namespace", "mkpyt-cli-ctx")
    cluster.client.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "here"}}, "mkpyt-cli-ctx"
    )
    m = cluster.mkpy("get", "cm", "here", "-o", "name", "--kubeconfig", str(path), "--context", "other")
    assert m.stdout == "configmap/here\n"
    m = cluster.mkpy("get", "cm", "here", "--kubeconfig", str(path), check=False)
    assert m.returncode == 1 and 'configmaps "here" not found' in m.stderr
