"""NetworkPolicy in a real node namespace: a deny blocks, an allow admits exactly what it says."""

from __future__ import annotations

import pytest

from minikube_py.network.policy import PolicyEnforcer
from minikube_py.network.proxy import ClusterObjects

from .conftest import POD_IPS, http_get

pytestmark = [pytest.mark.integration, pytest.mark.vm]

LABELS = [{"app": "web"}, {"app": "client"}, {"app": "other"}]


def reach(netns: str, ip: str, port: int = 3000, timeout: float = 5.0) -> str:
    """ok (HTTP answer), refused (RST: allowed, nothing listens) or blocked (dropped: times out).

    Where a test expects "blocked" it passes a short timeout (a dropped SYN never gets an answer,
    so waiting longer proves nothing more); everywhere else the wait is generous for slow VMs.
    """
    try:
        http_get(netns, ip, port, timeout=timeout)
        return "ok"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "blocked"


def policy(name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


@pytest.fixture
def enforcer(node):
    objects = ClusterObjects()
    objects.apply("Namespace", {"metadata": {"name": "default"}})
    for i in range(3):
        meta = {"name": f"pod-{i + 1}", "namespace": "default", "labels": LABELS[i]}
        objects.apply("Pod", {"metadata": meta,
                              "spec": {"containers": [{"name": "c", "ports": [{"name": "http",
                                                                               "containerPort": 3000}]}]},
                              "status": {"podIP": POD_IPS[i]}})
    enf = PolicyEnforcer(objects, node.node_ns)
    try:
        yield objects, enf
    finally:
        enf.teardown()
        assert "MKPY-NP" not in enf.iptables.save("filter")


def test_deny_all_ingress_blocks_and_allow_admits_exactly_its_peers_and_ports(node, enforcer):
    objects, enf = enforcer
    web = POD_IPS[0]
    assert reach(node.pod_ns(1), web) == "ok"
    assert reach(node.pod_ns(1), web, 3001) == "refused"  # no policy: allowed, nobody listens

    objects.apply("NetworkPolicy", policy("deny", {"podSelector": {"matchLabels": {"app": "web"}},
                                                   "policyTypes": ["Ingress"]}))
    enf.sync()
    assert reach(node.pod_ns(1), web, timeout=0.7) == "blocked"
    assert reach(node.pod_ns(0), POD_IPS[1]) == "ok"  # web's own egress is not restricted

    objects.apply("NetworkPolicy", policy("allow-client", {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                     "ports": [{"port": "http"}]}]}))
    enf.sync()
    assert reach(node.pod_ns(1), web) == "ok"
    assert reach(node.pod_ns(1), web, 3001, timeout=0.7) == "blocked"  # only the named port 3000 is allowed
    assert reach(node.pod_ns(2), web, timeout=0.7) == "blocked"  # app=other is not a peer


def test_ip_block_with_except_and_namespace_selector(node, enforcer):
    objects, enf = enforcer
    objects.apply("NetworkPolicy", policy("cidr", {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.0.0/24", "except": [f"{POD_IPS[2]}/32"]}}]}]}))
    enf.sync()
    assert reach(node.pod_ns(1), POD_IPS[0]) == "ok"
    assert reach(node.pod_ns(2), POD_IPS[0], timeout=0.7) == "blocked"

    objects.apply("NetworkPolicy", policy("ns", {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}},
            "podSelector": {"matchLabels": {"app": "other"}}}]}]}))
    enf.sync()
    assert reach(node.pod_ns(2), POD_IPS[0]) == "ok"  # admitted by the second policy (policies add up)


def test_egress_policy_limits_where_a_pod_may_connect(node, enforcer):
    objects, enf = enforcer
    objects.apply("NetworkPolicy", policy("egress", {
        "podSelector": {"matchLabels": {"app": "other"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 3000}]}]}))
    enf.sync()
    assert reach(node.pod_ns(2), POD_IPS[0]) == "ok"
    assert reach(node.pod_ns(2), POD_IPS[1], timeout=0.7) == "blocked"
    objects.delete("NetworkPolicy", "default", "egress")
    enf.sync()
    assert reach(node.pod_ns(2), POD_IPS[1]) == "ok"
