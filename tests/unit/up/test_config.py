"""The cluster's configuration and the command lines the supervisor derives from it."""

from __future__ import annotations

import pytest

from minikube_py.cluster import lifecycle
from minikube_py.cluster.config import ClusterConfig, ClusterError
from minikube_py.cluster.supervisor import component_argvs


def test_config_round_trips_through_the_run_root(tmp_path):
    cfg = ClusterConfig(state_root=str(tmp_path / "s"), run_root=str(tmp_path / "r"), node_name="n1",
                        node_netns="mkpyt-up-x", api_port=16443)
    cfg.save()
    back = ClusterConfig.load(str(tmp_path / "r"))
    assert back == cfg
    assert back.api_socket == str(tmp_path / "r" / "apiserver.sock")
    assert back.node_netns_path == "/run/netns/mkpyt-up-x"
    assert back.gateway == "10.244.0.1"


def test_load_without_a_cluster_says_so(tmp_path):
    with pytest.raises(ClusterError, match="no cluster here"):
        ClusterConfig.load(str(tmp_path))


def test_components_start_api_server_first_and_use_the_configured_paths(tmp_path):
    cfg = ClusterConfig(state_root=str(tmp_path / "s"), run_root=str(tmp_path / "r"), node_name="n1",
                        node_netns="mkpyt-up-x", netns_prefix="mkpyt-up-x-", api_port=16443,
                        kubelet_port=20250)
    argvs = dict(component_argvs(cfg))
    assert list(argvs) == ["apiserver", "controller-manager", "scheduler", "kubelet", "proxy", "ingress"]
    api = argvs["apiserver"]
    assert api[api.index("--listen") + 1] == "127.0.0.1:16443"
    assert api[api.index("--store") + 1] == f"sqlite://{tmp_path}/s/apiserver/state.db"
    kubelet = argvs["kubelet"]
    assert kubelet[kubelet.index("--node-netns") + 1] == "mkpyt-up-x"
    assert kubelet[kubelet.index("--netns-prefix") + 1] == "mkpyt-up-x-"
    assert kubelet[kubelet.index("--cluster-dns") + 1] == "10.96.0.10"
    proxy = argvs["proxy"]
    assert proxy[proxy.index("--netns") + 1] == "/run/netns/mkpyt-up-x"
    assert proxy[proxy.index("--dns-listen") + 1] == "10.244.0.1:53"
    ingress = argvs["ingress"]
    assert ingress[ingress.index("--netns") + 1] == "/run/netns/mkpyt-up-x"
    assert ingress[ingress.index("--publish-ip") + 1] == "10.244.0.1"  # no node IP: the bridge address
    assert ingress[ingress.index("--listen") + 1] == "0.0.0.0:80"
    assert ingress[ingress.index("--tls-listen") + 1] == "0.0.0.0:443"


def test_host_network_puts_nothing_in_a_netns(tmp_path):
    cfg = ClusterConfig(state_root=str(tmp_path), run_root=str(tmp_path), host_network=True)
    argvs = dict(component_argvs(cfg))
    assert "--node-host-network" in argvs["kubelet"] and "--node-netns" not in argvs["kubelet"]
    assert "--netns" not in argvs["proxy"]
    assert cfg.node_netns_path is None


def test_node_ready_reads_the_ready_condition():
    assert lifecycle.node_ready({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert not lifecycle.node_ready({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert not lifecycle.node_ready({})
