"""Pods on the node network through CNI: a pod IP from the node's range, /etc/hosts, an HTTP
readiness probe made from inside the pod's netns, and one pod reaching another by IP."""

import os
import uuid

import pytest

from .conftest import busybox_pod
from .test_pods import cs, running

pytestmark = pytest.mark.integration


@pytest.fixture
def node_network(node):
    from minikube_py.network import NodeNetwork

    nn = NodeNetwork(f"mkpyt-kl-n{uuid.uuid4().hex[:6]}", "10.244.9.0/24", os.path.join(node.base, "network"))
    nn.ensure()
    node.config.node_network = nn
    try:
        yield nn
    finally:
        node.cleanup()          # pods (and their CNI DELs) first, then the node's namespace
        nn.destroy()


def test_pods_get_ips_and_talk(node, node_network):
    node.start()
    node.apply("server", busybox_pod("server", {
        "name": "web", "command": ["sh", "-c", "mkdir -p /www && echo hi from $(hostname) > /www/index.html"
                                   " && httpd -f -p 8080 -h /www"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"port": "http", "path": "/index.html"}, "periodSeconds": 1}}))
    node.apply("client", busybox_pod("client", {"name": "c", "command": ["sleep", "1000"]}))
    server = node.wait("server", lambda o: cs(o)["ready"], what="server ready (HTTP probe)")
    ip = server["status"]["podIP"]
    assert ip.startswith("10.244.9.") and server["status"]["podIPs"] == [{"ip": ip}]
    client = node.wait("client", running)
    assert client["status"]["podIP"] != ip
    k = node.kubelet
    cid = cs(client)["containerID"].split("://")[1]
    out = k.runtime.exec(cid, ["wget", "-q", "-O", "-", f"http://{ip}:8080/index.html"], timeout=20)
    assert out.stdout.strip() == "hi from server-node1"
    hosts = k.runtime.exec(cid, ["cat", "/etc/hosts"], timeout=20).stdout
    assert f"{client['status']['podIP']}\tclient-node1" in hosts
