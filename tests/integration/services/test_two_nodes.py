"""Services across two nodes built by the network layer (NodeNetwork + its own mkpy-cni plugin).

    lan (192.168.60.0/24, Fabric) ── node0 (pods 10.246.0.0/24) ── pod0
                                  └─ node1 (pods 10.246.1.0/24) ── pod1
Each node runs its own proxier over the same Services/Endpoints, as every node runs kube-proxy.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections import Counter

import pytest

from minikube_py.network import NodeNetwork, create_netns, delete_netns
from minikube_py.network.fabric import Fabric, connect_host_gw
from minikube_py.network.proxy import ClusterObjects, Proxier

from .conftest import http_get, wait_listening

pytestmark = [pytest.mark.integration, pytest.mark.vm]

CLUSTER = "10.246.0.0/16"
CIP = "10.96.5.5"


@pytest.fixture
def cluster(tmp_path):
    uid = uuid.uuid4().hex[:6]
    lan = Fabric(f"mkpyt-svc-{uid}-lan", "192.168.60.0/24")
    nodes: list[NodeNetwork] = []
    pods: list[str] = []
    servers: list[subprocess.Popen] = []
    proxiers: list[Proxier] = []
    added: list[tuple[NodeNetwork, dict, str, str]] = []
    objects = ClusterObjects()
    try:
        lan.ensure()
        for i in range(2):
            nodes.append(NodeNetwork(f"mkpyt-svc-{uid}-n{i}", f"10.246.{i}.0/24", tmp_path / f"node{i}",
                                     cluster_cidr=CLUSTER, uplink=lan.uplink(f"n{i}", i + 2)).ensure())
        connect_host_gw(nodes)
        ips = []
        for i, node in enumerate(nodes):
            conf = json.loads(node.write_conflist("mkpy").read_text())
            pod = create_netns(f"/run/netns/mkpyt-svc-{uid}-p{i}")
            pods.append(pod)
            result = node.cni(conf, "ADD", f"pod{i}", pod)
            added.append((node, conf, f"pod{i}", pod))
            ips.append(result["ips"][0]["address"].split("/")[0])
            www = tmp_path / f"www{i}"
            www.mkdir()
            (www / "index.html").write_text(f"pod-on-n{i}\n")
            servers.append(subprocess.Popen(["nsenter", f"--net={pod}", "/bin/busybox", "httpd", "-f", "-p",
                                             "3000", "-h", str(www)]))
            wait_listening(pod, 3000)
        objects.apply("Service", {"metadata": {"name": "web", "namespace": "default"},
                                  "spec": {"type": "NodePort", "clusterIP": CIP,
                                           "ports": [{"name": "http", "port": 80, "nodePort": 30555}]}})
        objects.apply("Endpoints", {"metadata": {"name": "web", "namespace": "default"}, "subsets": [{
            "addresses": [{"ip": ip, "nodeName": f"n{i}"} for i, ip in enumerate(ips)],
            "ports": [{"name": "http", "port": 3000}]}]})
        for i, node in enumerate(nodes):
            proxiers.append(Proxier(objects, node.netns_path, cluster_cidr=CLUSTER, node_name=f"n{i}"))
            proxiers[-1].sync()
        yield objects, lan, nodes, pods, proxiers
    finally:
        for p in proxiers:
            p.teardown()
        for s in servers:
            s.kill()
            s.wait()
        for node, conf, cid, pod in added:
            node.cni(conf, "DEL", cid, pod)
        for pod in pods:
            delete_netns(pod)
        for node in nodes:
            node.destroy()
        lan.destroy()


def test_cluster_ip_reaches_pods_on_both_nodes_and_node_ports_work_from_the_lan(cluster):
    objects, lan, _, pods, proxiers = cluster
    counts = Counter(http_get(pods[0], CIP, 80, count=60))
    assert set(counts) == {"pod-on-n0", "pod-on-n1"}, counts  # one of them is on the other node
    # From the LAN, through node1's NodePort: masqueraded, so even pod0's answer comes back via node1.
    assert set(http_get(lan.netns_path, "192.168.60.3", 30555, count=40)) == {"pod-on-n0", "pod-on-n1"}

    # externalTrafficPolicy: Local on node1 sends outside clients to node1's own pod only.
    svc = objects.get("Service", "default", "web")
    objects.apply("Service", {**svc, "spec": {**svc["spec"], "externalTrafficPolicy": "Local"}})
    for p in proxiers:
        p.sync()
    assert set(http_get(lan.netns_path, "192.168.60.3", 30555, count=20)) == {"pod-on-n1"}
    assert set(http_get(lan.netns_path, "192.168.60.2", 30555, count=20)) == {"pod-on-n0"}
