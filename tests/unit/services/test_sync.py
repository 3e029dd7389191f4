"""The proxier's sync against an in-memory iptables: one restore per sync, only changed chains."""

import pytest

from minikube_py.network.proxy import ClusterObjects, Proxier, ProxyError
from minikube_py.network.proxy.lb import LoadBalancerPool, parse_pool
from minikube_py.network.proxy.model import service_ports
from minikube_py.network.proxy.rules import render, svc_chain

from .fake_iptables import FakeIptables
from .objects import endpoints, service


@pytest.fixture
def world(monkeypatch):
    objects = ClusterObjects()
    ipt = FakeIptables()
    proxier = Proxier(objects, None, iptables=ipt, cluster_cidr="10.244.0.0/16",
                      lb_pool="192.168.77.200-192.168.77.201", manage_lb_addresses=False)
    conntrack = []
    monkeypatch.setattr(proxier, "_conntrack", lambda *a: conntrack.append(" ".join(a)) or [" ".join(a)])
    return objects, ipt, proxier, conntrack


def add(objects, i, ips, **kw):
    objects.apply("Service", service(f"s{i}", f"10.96.1.{i}", **kw))
    objects.apply("Endpoints", endpoints(f"s{i}", ips, **{k: v for k, v in kw.items()
                                                         if k in ("protocol", "port_name")}))


def kernel_equals_desired(ipt, proxier):
    want = render(proxier.service_ports(), proxier.cluster_cidr)
    for table, chains in want.tables().items():
        assert ipt.kube_chains(table) == chains


def test_first_sync_is_one_restore_with_everything_and_the_jumps(world):
    objects, ipt, proxier, _ = world
    for i in range(1, 4):
        add(objects, i, ["10.244.0.2", "10.244.0.3"])
    result = proxier.sync()
    assert result.full and len(ipt.restores) == 1
    kernel_equals_desired(ipt, proxier)
    assert any("-j KUBE-SERVICES" in r for r in ipt.tables["nat"]["PREROUTING"])
    assert any("-j KUBE-POSTROUTING" in r for r in ipt.tables["nat"]["POSTROUTING"])
    assert proxier.sync().restore_text == ""  # nothing changed: nothing loaded
    assert len(ipt.restores) == 1


def test_a_change_rewrites_only_that_services_chains(world):
    objects, ipt, proxier, _ = world
    for i in range(1, 6):
        add(objects, i, ["10.244.0.2", "10.244.0.3"])
    proxier.sync()
    objects.apply("Endpoints", endpoints("s3", ["10.244.0.2", "10.244.0.3", "10.244.0.4"]))
    result = proxier.sync()
    assert not result.full
    sp3 = service_ports(service("s3", "10.96.1.3"))[0]
    # the service chain and the new endpoint's chain; nothing of s1, s2, s4, s5; KUBE-SERVICES unchanged
    assert set(result.written) == {f"nat/{svc_chain(sp3)}", *(f"nat/{c.split()[-1]}" for c in
                                   ipt.tables["nat"][svc_chain(sp3)] if "10.244.0.4" in c)}
    assert "KUBE-SERVICES" not in result.restore_text
    kernel_equals_desired(ipt, proxier)


def test_deleted_service_chains_are_flushed_then_deleted(world):
    objects, ipt, proxier, _ = world
    add(objects, 1, ["10.244.0.2"])
    add(objects, 2, ["10.244.0.2", "10.244.0.3"])
    proxier.sync()
    objects.delete("Service", "default", "s2")
    result = proxier.sync()
    sp2 = service_ports(service("s2", "10.96.1.2"))[0]
    assert f"nat/{svc_chain(sp2)}" in result.deleted and len(result.deleted) == 3  # SVC + 2 SEP
    assert "nat/KUBE-SERVICES" in result.written
    kernel_equals_desired(ipt, proxier)


def test_a_new_proxier_removes_stale_chains_of_an_earlier_run(world):
    objects, ipt, proxier, _ = world
    add(objects, 1, ["10.244.0.2"])
    add(objects, 2, ["10.244.0.2"])
    proxier.sync()
    objects.delete("Service", "default", "s2")
    fresh = Proxier(objects, None, iptables=ipt)  # restarted kube-proxy: knows nothing of s2
    result = fresh.sync()
    assert result.full and len(result.deleted) == 2
    # jumps were found, not added twice
    assert sum("-j KUBE-SERVICES" in r for r in ipt.tables["nat"]["PREROUTING"]) == 1
    kernel_equals_desired(ipt, fresh)


def test_failed_restore_makes_the_next_sync_full(world, monkeypatch):
    objects, ipt, proxier, _ = world
    add(objects, 1, ["10.244.0.2"])
    proxier.sync()
    add(objects, 2, ["10.244.0.3"])
    real = ipt.restore
    monkeypatch.setattr(ipt, "restore", lambda text: (_ for _ in ()).throw(ProxyError("boom")))
    with pytest.raises(ProxyError):
        proxier.sync()
    monkeypatch.setattr(ipt, "restore", real)
    assert proxier.sync().full
    kernel_equals_desired(ipt, proxier)


def test_teardown_leaves_no_kube_chain_or_jump(world):
    objects, ipt, proxier, _ = world
    add(objects, 1, ["10.244.0.2"])
    objects.apply("Service", service("lb", "10.96.1.9", type_="LoadBalancer", node_port=30009))
    proxier.sync()
    proxier.teardown()
    for table in ("nat", "filter"):
        assert "KUBE" not in ipt.save(table)


def test_removed_udp_endpoint_flushes_its_conntrack_entries(world):
    objects, _, proxier, conntrack = world
    add(objects, 1, ["10.244.0.2", "10.244.0.3"], protocol="UDP", port_name="dns")
    add(objects, 2, ["10.244.0.2", "10.244.0.3"])  # TCP: conntrack entries end with the connection
    proxier.sync()
    conntrack.clear()
    objects.apply("Endpoints", endpoints("s1", ["10.244.0.2"], protocol="UDP", port_name="dns"))
    objects.apply("Endpoints", endpoints("s2", ["10.244.0.2"]))
    proxier.sync()
    assert conntrack == ["-p udp --orig-dst 10.96.1.1 --dst-nat 10.244.0.3"]


def test_load_balancer_gets_a_pool_address_and_keeps_it(world):
    objects, ipt, proxier, _ = world
    objects.apply("Service", service("a", "10.96.1.1", type_="LoadBalancer", node_port=30001))
    objects.apply("Service", service("b", "10.96.1.2", type_="LoadBalancer", node_port=30002,
                                     loadBalancerIP="192.168.77.200"))
    objects.apply("Endpoints", endpoints("a", ["10.244.0.2"]))
    proxier.sync()
    assert proxier.load_balancer_ips() == {("default", "a"): "192.168.77.201",
                                           ("default", "b"): "192.168.77.200"}
    assert "-d 192.168.77.201/32 --dport 80" in ipt.save("nat")
    objects.apply("Service", service("c", "10.96.1.3", type_="LoadBalancer", node_port=30003))
    proxier.sync()
    assert any("pool 192.168.77.200-192.168.77.201 is exhausted" in e for e in proxier.errors)


def test_pool_parsing():
    assert parse_pool("192.168.77.200-192.168.77.202") == [
        "192.168.77.200", "192.168.77.201", "192.168.77.202"]
    assert parse_pool("10.0.0.0/30") == ["10.0.0.1", "10.0.0.2"]
    with pytest.raises(ProxyError, match="pool"):
        LoadBalancerPool("10.0.0.5-10.0.0.1")


def test_a_full_resync_repairs_rules_someone_else_flushed(world):
    objects, ipt, proxier, _ = world
    add(objects, 1, ["10.244.0.2"])
    proxier.sync()
    ipt.tables["nat"]["KUBE-SERVICES"] = []  # an admin's `iptables -t nat -F KUBE-SERVICES`
    assert proxier.sync().restore_text == ""  # change-only: nothing changed in the objects
    result = proxier.sync(full=True)
    assert result.full and "nat/KUBE-SERVICES" in result.written
    kernel_equals_desired(ipt, proxier)
