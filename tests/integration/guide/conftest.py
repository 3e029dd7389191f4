"""One real cluster for the whole guide suite: `mkpy up` on free ports and tmp roots, with the
guide's image built from examples/seed/app and pushed to a registry that myregistry.com is mapped
to (the node pulls it, as in the guide's Part 1). Brought up once per module, because that is
where the time goes; every test leaves the cluster as it found it (no pods of its own left), so
the per-test leak check still holds, and the module's own check below covers up ... down."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubectl_binaries import kubectl_120  # noqa: F401  (a fixture for this suite)
from leakcheck import KernelSnapshot

from integration.image.registry_fixture import Registry
from integration.up.conftest import cluster_environment, mkpy
from minikube_py.api.client import Client

SEED = Path(__file__).resolve().parents[3] / "examples" / "seed"
IMAGE = "myregistry.com/myapp:v1.0"
PREFIX = "mkpyt-guide"


@dataclass
class GuideCluster:
    env: dict
    kubeconfig: str
    node: str
    netns_prefix: str
    client: Client

    def pod_netns(self) -> list[str]:
        """The pods' network namespaces the kubelet holds right now (/run/netns/<prefix>...)."""
        try:
            return [n for n in os.listdir("/run/netns") if n.startswith(self.netns_prefix)]
        except FileNotFoundError:
            return []

    def wait_no_pods(self, timeout: float = 90) -> None:
        """Until the API has no pods in default and the kubelet has torn every sandbox down."""
        deadline = time.monotonic() + timeout
        while self.client.list("pods", "default")["items"] or self.pod_netns():
            if time.monotonic() > deadline:
                left = [p["metadata"]["name"] for p in self.client.list("pods", "default")["items"]]
                raise AssertionError(f"pods left after {timeout:.0f} s: {left}, netns {self.pod_netns()}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def guide():
    if os.geteuid() != 0:
        pytest.skip("mkpy up needs root")
    before = KernelSnapshot.take()
    with cluster_environment(PREFIX) as env:
        root = Path(env["MKPY_TEST_ROOT"])
        (root / "registry").mkdir()
        registry = Registry(str(root / "registry")).start()
        try:
            # docker build + docker push of the guide's image, from a builder store of the test's
            from minikube_py.image import baseimage
            from minikube_py.image.store import ImageStore

            hosts = root / "state" / "certs.d" / "myregistry.com"
            hosts.mkdir(parents=True)
            (hosts / "hosts.toml").write_text(f'server = "{registry.url}"\n')
            builder = ImageStore(str(root / "builder"), hosts_dir=str(root / "state" / "certs.d"))
            assert baseimage.main(["--root", str(root / "builder")]) == 0
            builder.build(str(SEED / "app"), tags=[IMAGE], out=lambda _: None)
            builder.push(IMAGE)

            res = mkpy(env, "up")
            assert res.returncode == 0, res.stdout + res.stderr
            client = Client.from_kubeconfig(env["MKPY_KUBECONFIG"])
            yield GuideCluster(
                env, env["MKPY_KUBECONFIG"], env["MKPY_NODE_NAME"], env["MKPY_NETNS_PREFIX"], client
            )
        finally:
            down = mkpy(env, "down", timeout=180)
            registry.stop()
        assert down.returncode == 0, down.stdout + down.stderr
    leaks = KernelSnapshot.take().leaks_since(before)
    assert not leaks, "mkpy up ... down left kernel state behind:\n  " + "\n  ".join(leaks)


@pytest.fixture
def guide_ns(guide: GuideCluster):
    """The cluster, and after the test (passed or failed) whatever it left in `default` deleted and
    every pod's sandbox gone — so one failing walk does not fail the next one or the leak check."""
    yield guide
    c = guide.client
    for plural in ("deployments", "replicasets", "configmaps"):
        c.delete_collection(plural, "default")
    for svc in c.list("services", "default")["items"]:
        if svc["metadata"]["name"] != "kubernetes":
            c.delete("services", svc["metadata"]["name"], "default")
    c.delete_collection("pods", "default")
    guide.wait_no_pods()
