"""NetworkPolicy -> chains, without a kernel."""

import re

import pytest

from minikube_py.network.policy import PolicyError
from minikube_py.network.policy.rules import TOP, Renderer
from minikube_py.network.policy.selectors import matches


def pod(name, ip, labels, ns="default"):
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}, "status": {"podIP": ip},
            "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 3000}]}]}}


PODS = [pod("web", "10.244.0.11", {"app": "web"}), pod("cli", "10.244.0.12", {"app": "client"}),
        pod("x", "10.244.1.5", {"app": "client"}, ns="other")]


def policy(spec, name="p"):
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def test_unselected_pods_get_no_chain():
    chains = Renderer(PODS, [], [policy({"podSelector": {"matchLabels": {"app": "nothing"}}})]).render()
    assert list(chains) == [TOP]


def test_selected_pod_gets_default_deny_plus_allows():
    spec = {"podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                         "ports": [{"port": "http"}, {"port": 8000, "endPort": 8080, "protocol": "UDP"}]}]}
    chains = Renderer(PODS, [], [policy(spec)]).render()
    (name,) = [c for c in chains if c != TOP]
    assert chains[TOP][-1].endswith(f"-d 10.244.0.11/32 -j {name}")
    rules = chains[name]
    assert rules[-1].endswith("-j DROP") and "--mark 0x10000/0x10000 -j RETURN" in rules[-2]
    allows = [r for r in rules if "--set-xmark 0x10000/0x10000" in r]
    # same-namespace client only (not the one in "other"), on 3000 (named) and udp 8000:8080
    assert len(allows) == 2 and all("-s 10.244.0.12/32" in r for r in allows)
    assert "--dport 3000" in allows[0] and "-p udp -m udp --dport 8000:8080" in allows[1]


def test_namespace_selector_and_ip_block_except():
    spec = {"podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}},
                                  {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.5.0/24"]}}]}]}
    ns = [{"metadata": {"name": "other", "labels": {"team": "a"}}}]
    chains = Renderer(PODS, ns, [policy(spec)]).render()
    text = "\n".join(f"{c} {r}" for c, rs in chains.items() for r in rs)
    assert "-s 10.244.1.5/32" in text  # the pod in the selected namespace
    blocks = [c for c in chains if c.startswith("MKPY-NP-B-")]
    assert blocks and chains[blocks[0]][0] == "-s 192.168.5.0/24 -j RETURN"


@pytest.mark.parametrize("spec, field", [
    ({}, "spec.podSelector"),
    ({"podSelector": {}, "policyTypes": ["Sideways"]}, "spec.policyTypes"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "nope"}}]}]},
     "spec.ingress[0].from[0].ipBlock.cidr"),
    ({"podSelector": {}, "ingress": [{"from": [{}]}]}, "spec.ingress[0].from[0]"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
     "podSelector.matchExpressions[0]"),
])
def test_bad_policies_name_the_field(spec, field):
    with pytest.raises(PolicyError, match=re.escape(field)):
        Renderer(PODS, [], [policy(spec)]).render()


def test_selectors():
    assert matches({}, {"a": "1"})
    assert matches({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"})
    assert not matches({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"})
    assert matches({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}, {"a": "1"})
    assert not matches({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]},
                       {"a": "1"})
