"""The official Kubernetes Python client against our server: CRUD, selectors, watch with resume."""

from __future__ import annotations

import pytest

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s  # noqa: E402
from kubernetes import config, watch  # noqa: E402

from minikube_py.api import auth  # noqa: E402
from minikube_py.api.testing import ThreadedApiServer  # noqa: E402


@pytest.fixture
def core(tmp_path):
    ca, cert, key = auth.ensure_serving_cert(str(tmp_path / "pki"))
    server = ThreadedApiServer(f"sqlite://{tmp_path}/state.db", tls_cert=cert, tls_key=key).start()
    kc = auth.write_kubeconfig(
        str(tmp_path / "kubeconfig"), f"https://127.0.0.1:{server.server.port}", server.token, ca
    )
    api_client = config.new_client_from_config(config_file=kc)
    yield k8s.CoreV1Api(api_client), k8s.AppsV1Api(api_client)
    api_client.close()
    server.stop()


def test_official_client_crud_selectors_and_watch(core):
    v1, apps = core
    body = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="py", labels={"app": "py"}),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="busybox:1.36")]),
    )
    created = v1.create_namespaced_pod("default", body)
    assert created.spec.restart_policy == "Always" and created.status.phase == "Pending"
    assert [p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="app=py").items] == [
        "py"
    ]
    assert v1.list_namespaced_pod("default", label_selector="app=other").items == []

    patched = v1.patch_namespaced_pod("py", "default", {"metadata": {"labels": {"extra": "1"}}})
    assert patched.metadata.labels == {"app": "py", "extra": "1"}
    with pytest.raises(k8s.ApiException) as info:
        v1.read_namespaced_pod("missing", "default")
    assert info.value.status == 404

    start = created.metadata.resource_version
    v1.create_namespaced_config_map(
        "default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="c1"), data={"a": "b"})
    )
    v1.delete_namespaced_pod("py", "default")
    seen = []
    for ev in watch.Watch().stream(
        v1.list_namespaced_pod, "default", resource_version=start, timeout_seconds=2
    ):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 2:
            break
    assert seen == [("MODIFIED", "py"), ("DELETED", "py")]

    dep = apps.create_namespaced_deployment(
        "default",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"a": "d"}},
                "template": {
                    "metadata": {"labels": {"a": "d"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        },
    )
    assert dep.spec.strategy.rolling_update.max_surge == "25%"
    scale = apps.patch_namespaced_deployment_scale("d", "default", {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3
