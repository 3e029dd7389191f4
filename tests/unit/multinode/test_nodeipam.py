"""Node IPAM: each node gets its own /24 of the cluster CIDR, freed when the node goes."""

import pytest

from minikube_py.controllers.manager import ControllerManager
from minikube_py.controllers.nodeipam import NodeIpamController


def node(api, name, cidr=None):
    spec = {"podCIDR": cidr} if cidr else {}
    return api.create("nodes", {"metadata": {"name": name}, "spec": spec})


def cidrs(api):
    return {n["metadata"]["name"]: (n.get("spec") or {}).get("podCIDR") for n in api.objs("nodes")}


def test_each_node_gets_a_distinct_slice_and_deleted_ones_are_reused(api, harness):
    harness.add(NodeIpamController)
    for n in ("cp", "w1", "w2"):
        node(api, n)
    harness.settle()
    got = cidrs(api)
    assert sorted(got.values()) == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
    assert api.get("nodes", "w1")["spec"]["podCIDRs"] == [got["w1"]]
    freed = got["w1"]
    api.delete("nodes", "w1")
    harness.settle()
    node(api, "w3")
    harness.settle()
    assert cidrs(api)["w3"] == freed
    assert len(harness.events("CIDRAssigned")) == 4


def test_a_node_that_brings_its_own_cidr_keeps_it_and_blocks_it(api, harness):
    node(api, "static", "10.244.0.0/24")
    harness.add(NodeIpamController)
    node(api, "w1")
    harness.settle()
    assert cidrs(api) == {"static": "10.244.0.0/24", "w1": "10.244.1.0/24"}


def test_a_full_cluster_cidr_warns_instead_of_overlapping(api, harness):
    harness.add(NodeIpamController, cluster_cidr="10.244.0.0/23", node_cidr_mask=24)
    for n in ("a", "b", "c"):
        node(api, n)
    harness.settle()
    got = cidrs(api)
    assert sorted(v for v in got.values() if v) == ["10.244.0.0/24", "10.244.1.0/24"]
    assert [n for n, v in got.items() if not v] == ["c"]
    assert harness.events("CIDRNotAvailable")


@pytest.mark.parametrize(
    "kwargs,field",
    [({"cluster_cidr": "10.244.0.0/33"}, "cluster_cidr"), ({"node_cidr_mask": 8}, "cluster_cidr")],
)
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ControllerManager(**kwargs)
