"""`mkpy controller-manager` and `mkpy scheduler` as processes, driven by a real kubectl:
apply the guide's Deployment, `rollout status`, `set image`, `rollout history`, `rollout undo`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from minikube_py.api import auth
from minikube_py.api.testing import ThreadedApiServer

from .conftest import Kubelet, node_body, wait_for

SEED = "/work/shared/examples/seed"


def kubectl(kubeconfig: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.run(
        ["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, timeout=60, env=env
    )
    if proc.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def test_kubectl_drives_a_rollout_through_our_loops(tmp_path):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    ca, cert, key = auth.ensure_serving_cert(str(tmp_path / "pki"))
    server = ThreadedApiServer(f"sqlite://{tmp_path}/state.db", tls_cert=cert, tls_key=key).start()
    procs: list[subprocess.Popen] = []
    try:
        kc = auth.write_kubeconfig(
            str(tmp_path / "admin.kubeconfig"), f"https://127.0.0.1:{server.server.port}", server.token, ca
        )
        client = server.client
        for n in ("mkpyt-ctl-k1", "mkpyt-ctl-k2"):
            client.create(node_body(n))
        for group in ("controller-manager", "scheduler"):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "minikube_py.cli.main", group, "--kubeconfig", kc],
                    stdout=subprocess.DEVNULL,
                    stderr=open(tmp_path / f"{group}.log", "w"),
                )
            )
        kubelet = Kubelet(client)
        assert "deployment.apps/myapp-deployment created" in kubectl(
            kc, "apply", "-f", f"{SEED}/deployment.yaml"
        )

        def settle(image: str) -> bool:
            kubelet.step(max_ready=3)
            pods = [p for p in kubelet.pods() if not p["metadata"].get("deletionTimestamp")]
            return len(pods) == 3 and all(
                kubelet.ready(p) and p["spec"]["containers"][0]["image"] == image for p in pods
            )

        wait_for(lambda: settle("myregistry.com/myapp:v1.0"), timeout=60, what="3 ready pods")
        out = kubectl(kc, "rollout", "status", "deployment/myapp-deployment", "--timeout=30s")
        assert 'deployment "myapp-deployment" successfully rolled out' in out
        kubectl(kc, "set", "image", "deployment/myapp-deployment", "myapp=myregistry.com/myapp:v2.0")
        wait_for(lambda: settle("myregistry.com/myapp:v2.0"), timeout=60, what="the v2 rollout")
        history = kubectl(kc, "rollout", "history", "deployment/myapp-deployment")
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
        assert "rolled back" in kubectl(kc, "rollout", "undo", "deployment/myapp-deployment")
        wait_for(lambda: settle("myregistry.com/myapp:v1.0"), timeout=60, what="the rollback")
        out = kubectl(kc, "rollout", "status", "deployment/myapp-deployment", "--timeout=30s")
        assert "successfully rolled out" in out
        described = kubectl(kc, "describe", "deployment", "myapp-deployment")
        assert "ScalingReplicaSet" in described and "NewReplicaSetAvailable" in described
        pod = kubelet.pods()[0]["metadata"]["name"]
        assert "Successfully assigned default/" in kubectl(kc, "describe", "pod", pod)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = []
        for p in procs:
            try:
                codes.append(p.wait(timeout=15))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                codes.append("killed")
        server.stop()
    assert codes == [0, 0], [
        open(tmp_path / f"{g}.log").read()[-2000:] for g in ("controller-manager", "scheduler")
    ]
