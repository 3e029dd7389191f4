"""`mkpy node join` runs the `mkpy up` supervisor with role=worker: which components, which flags."""

import pytest

from minikube_py.cluster.config import ClusterConfig, ClusterError
from minikube_py.cluster.supervisor import component_argvs


def argvs(**kw) -> dict[str, list[str]]:
    return dict(component_argvs(ClusterConfig(node_name="n", state_root="/s", run_root="/r", **kw)))


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_worker_runs_only_node_agents_with_its_own_credential():
    got = argvs(
        role="worker", server="https://192.168.56.10:6443", host_network=True, node_ip="192.168.56.11"
    )
    assert list(got) == ["kubelet", "proxy", "routes"]
    assert flag(got["kubelet"], "--kubeconfig") == "/s/node.kubeconfig"
    assert "--api-socket" not in got["kubelet"] and flag(got["kubelet"], "--node-ip") == "192.168.56.11"
    assert flag(got["proxy"], "--kubeconfig") == "/s/node.kubeconfig"
    assert flag(got["routes"], "--node-name") == "n"


def test_control_plane_listens_on_its_advertise_address_and_passes_timeouts():
    got = argvs(advertise_address="192.168.56.10", store="etcd://a:2379,b:2379", pod_eviction_timeout=7)
    assert list(got)[:3] == ["apiserver", "controller-manager", "scheduler"]
    assert flag(got["apiserver"], "--listen") == "192.168.56.10:6443"
    assert flag(got["apiserver"], "--store") == "etcd://a:2379,b:2379"
    assert flag(got["controller-manager"], "--pod-eviction-timeout") == "7"
    assert "routes" not in got  # not on the host network: no LAN to route over
    single = argvs()
    assert flag(single["apiserver"], "--listen") == "127.0.0.1:6443" and "routes" not in single


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"role": "boss"}, "role"),
        ({"role": "worker", "server": "http://x:6443"}, "server"),
        ({"store": "mysql://x"}, "store"),
    ],
)
def test_bad_settings_name_the_field(kw, field):
    with pytest.raises(ClusterError, match=field):
        ClusterConfig(**kw)
