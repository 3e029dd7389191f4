"""Real kubectl (the bundled 1.30 picked by /usr/bin/kubectl's dispatcher, and 1.27) against our
server over TLS with the admin kubeconfig: discovery, Tables, plain `apply` (openapi v3/v2)."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time

import pytest
from kubectl_binaries import BUNDLED, kubectl_120  # noqa: F401  (a fixture for this module)

from minikube_py.api import auth
from minikube_py.api.testing import ThreadedApiServer

SEED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "seed")  # the guide's files


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    tmp = tmp_path_factory.mktemp("mkpyt-api-kubectl")
    ca, cert, key = auth.ensure_serving_cert(str(tmp / "pki"))
    server = ThreadedApiServer(f"sqlite://{tmp}/state.db", tls_cert=cert, tls_key=key).start()
    kubeconfig = auth.write_kubeconfig(
        str(tmp / "admin.kubeconfig"), f"https://127.0.0.1:{server.server.port}", server.token, ca
    )
    yield kubeconfig, server
    server.stop()


def kubectl(kubeconfig: str, *args: str, binary: str = "kubectl", check: bool = True) -> str:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.run(
        [binary, "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, timeout=60, env=env
    )
    if check and proc.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()]


def test_kubectl_apply_get_scale_delete(cluster, tmp_path):
    kc, server = cluster
    assert "Server Version: v1.30.0" in kubectl(kc, "version")
    out = kubectl(kc, "apply", "-f", f"{SEED}/deployment.yaml", "-f", f"{SEED}/service.yaml")
    assert "deployment.apps/myapp-deployment created" in out and "service/myapp-service created" in out

    table = rows(kubectl(kc, "get", "services"))
    assert table[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    svc = next(r for r in table if r[0] == "myapp-service")
    assert (
        svc[1] == "LoadBalancer"
        and svc[3] == "<pending>"
        and svc[4].startswith("80:")
        and svc[4].endswith("/TCP")
    )

    wide = rows(kubectl(kc, "get", "deployments", "-o", "wide"))
    assert wide[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1][:2] == ["myapp-deployment", "0/3"] and wide[1][-1] == "app=myapp"

    # A changed re-apply goes through kubectl's strategic merge patch.
    changed = tmp_path / "deployment.yaml"
    changed.write_text(open(f"{SEED}/deployment.yaml").read().replace("replicas: 3", "replicas: 2"))
    assert "configured" in kubectl(kc, "apply", "-f", str(changed))
    assert kubectl(kc, "get", "deploy", "myapp-deployment", "-o", "jsonpath={.spec.replicas}") == "2"
    kubectl(kc, "scale", "deployment/myapp-deployment", "--replicas=4")
    assert server.client.get("deployments", "myapp-deployment")["spec"]["replicas"] == 4

    kubectl(kc, "run", "solo", "--image=busybox:1.36", "--", "sleep", "100")
    pods = rows(kubectl(kc, "get", "pods"))
    assert pods[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1][:4] == ["solo", "0/1", "Pending", "0"]
    assert rows(kubectl(kc, "get", "pods", "-o", "wide"))[0][5:] == [
        "IP",
        "NODE",
        "NOMINATED",
        "NODE",
        "READINESS",
        "GATES",
    ]
    described = kubectl(kc, "describe", "pod", "solo")
    assert "Image:" in described and "busybox:1.36" in described

    typo = tmp_path / "typo.yaml"
    typo.write_text(
        open(f"{SEED}/deployment.yaml").read().replace("image:", "imagee:").replace("myapp-", "typo-")
    )
    out = kubectl(kc, "apply", "-f", str(typo), check=False)
    assert 'strict decoding error: unknown field "spec.template.spec.containers[0].imagee"' in out

    kubectl(kc, "delete", "-f", f"{SEED}/service.yaml")
    assert "myapp-service" not in kubectl(kc, "get", "services")
    assert "invalid" in kubectl(kc, "run", "Bad_Name", "--image=busybox", check=False).lower()


@pytest.mark.parametrize("version", ["1.27", "1.20"])
def test_older_kubectl_applies_with_openapi_v2(cluster, version, tmp_path, request):
    """kubectl <= 1.29 validates against /openapi/v2 (protobuf); 1.20 comes from Debian's
    kubernetes-client .deb (`dpkg-deb -x`, tests/kubectl_binaries.py)."""
    binary = request.getfixturevalue("kubectl_120") if version == "1.20" else f"{BUNDLED}/kubectl.1.27"
    if not os.path.exists(binary):
        pytest.skip(f"{binary} not available")
    kc, server = cluster
    server.client.delete_collection("deployments", "default")
    assert "created" in kubectl(kc, "apply", "-f", f"{SEED}/deployment.yaml", binary=binary)
    changed = tmp_path / "deployment.yaml"
    changed.write_text(open(f"{SEED}/deployment.yaml").read().replace("replicas: 3", "replicas: 1"))
    assert "configured" in kubectl(kc, "apply", "-f", str(changed), binary=binary)
    assert server.client.get("deployments", "myapp-deployment")["spec"]["replicas"] == 1
    assert rows(kubectl(kc, "get", "deploy", binary=binary))[0] == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
    ]


def test_kubectl_watch_events_and_sort(cluster):
    kc, server = cluster
    c = server.client
    c.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "watched", "labels": {"watch": "me"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
        }
    )
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.Popen(
        ["kubectl", "--kubeconfig", kc, "get", "pods", "-w", "-l", "watch=me"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        got = [lines.get(timeout=30).split() for _ in range(2)]  # the list: header and the pod
        c.bind("default", "watched", "node-1")  # now a watch event
        got.append(lines.get(timeout=30).split())
    finally:
        proc.terminate()
        proc.wait(10)
    assert got[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [row[:3] for row in got[1:]] == [["watched", "0/1", "Pending"]] * 2

    for i, reason in enumerate(["First", "Second"]):
        if i:
            # Timestamps have one-second resolution; names sort the other way (ev-9 is First),
            # so only a real sort by creationTimestamp puts First before Second.
            first = c.get("events", "ev-9")["metadata"]["creationTimestamp"]
            while time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) <= first:
                time.sleep(0.05)
        c.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"ev-{9 - i}"},
                "reason": reason,
                "type": "Normal",
                "message": f"event {i}",
                "involvedObject": {"kind": "Pod", "name": "watched"},
            }
        )
    table = rows(kubectl(kc, "get", "events", "--sort-by=.metadata.creationTimestamp"))
    assert table[0][:4] == ["LAST", "SEEN", "TYPE", "REASON"]
    assert [r[2] for r in table[1:]][-2:] == ["First", "Second"]  # LAST SEEN is one cell, two header words
