"""Cluster DNS answers and resolv.conf rendering, from plain objects (no sockets)."""

import pytest

from minikube_py.network.dns import DnsError, kube_dns_objects
from minikube_py.network.dns.records import ClusterRecords
from minikube_py.network.dns.resolvconf import render
from minikube_py.network.proxy import ClusterObjects

from .objects import endpoints, service


@pytest.fixture
def objects():
    o = ClusterObjects()
    o.apply("Service", service("myapp-service", "10.96.0.50"))
    o.apply("Endpoints", endpoints("myapp-service", ["10.244.0.11", "10.244.0.12"]))
    o.apply("Service", service("db", "None"))
    o.apply("Endpoints", endpoints("db", ["10.244.0.13", "10.244.0.12"], not_ready=["10.244.0.14"]))
    o.apply("Service", service("ext", "", type_="ExternalName", externalName="example.org"))
    return o


def test_service_a_record_is_the_cluster_ip(objects):
    r = ClusterRecords(objects)
    assert r.lookup("myapp-service.default.svc.cluster.local.", "A").a == ["10.96.0.50"]
    assert r.lookup("MyApp-Service.Default.svc.cluster.local", "A").a == ["10.96.0.50"]


def test_headless_service_answers_ready_pod_ips(objects):
    ans = ClusterRecords(objects).lookup("db.default.svc.cluster.local", "A")
    assert ans.a == ["10.244.0.12", "10.244.0.13"]  # not the unready 10.244.0.14
    one = ClusterRecords(objects).lookup("10-244-0-13.db.default.svc.cluster.local", "A")
    assert one.a == ["10.244.0.13"]


def test_srv_records_name_the_port(objects):
    r = ClusterRecords(objects)
    assert r.lookup("_http._tcp.myapp-service.default.svc.cluster.local", "SRV").srv == [
        (0, 100, 80, "myapp-service.default.svc.cluster.local.")]
    assert r.lookup("_nope._tcp.myapp-service.default.svc.cluster.local", "SRV").rcode == "NXDOMAIN"


def test_unknown_cluster_names_are_nxdomain_and_others_are_forwarded(objects):
    r = ClusterRecords(objects)
    assert r.lookup("nothere.default.svc.cluster.local", "A").rcode == "NXDOMAIN"
    assert r.lookup("myapp-service.other.svc.cluster.local", "A").rcode == "NXDOMAIN"
    assert r.lookup("example.org", "A") is None
    assert r.lookup("myapp-service.default.svc.cluster.local", "AAAA").a == []  # NODATA, not NXDOMAIN
    assert r.lookup("myapp-service.default.svc.cluster.local", "AAAA").rcode == "NOERROR"


def test_answers_follow_changes_at_once(objects):
    r = ClusterRecords(objects)
    objects.apply("Service", service("myapp-service", "10.96.0.99"))
    assert r.lookup("myapp-service.default.svc.cluster.local", "A").a == ["10.96.0.99"]
    objects.delete("Service", "default", "myapp-service")
    assert r.lookup("myapp-service.default.svc.cluster.local", "A").rcode == "NXDOMAIN"


def test_external_name_and_pod_records(objects):
    r = ClusterRecords(objects)
    assert r.lookup("ext.default.svc.cluster.local", "A").cname == "example.org."
    assert r.lookup("10-244-0-11.default.pod.cluster.local", "A").a == ["10.244.0.11"]


def test_cluster_first_resolv_conf():
    pod = {"metadata": {"namespace": "shop"}, "spec": {}}
    assert render(pod, host_resolv_conf="nameserver 1.1.1.1\nsearch lan\n") == (
        "nameserver 10.96.0.10\n"
        "search shop.svc.cluster.local svc.cluster.local cluster.local lan\n"
        "options ndots:5\n")


def test_default_and_none_policies():
    host = "nameserver 192.168.1.1\nsearch lan\n"
    assert render({"spec": {"dnsPolicy": "Default"}}, host_resolv_conf=host) == \
        "nameserver 192.168.1.1\nsearch lan\n"
    none = {"spec": {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["9.9.9.9"], "searches": ["a.b"],
                                                        "options": [{"name": "ndots", "value": "2"}]}}}
    assert render(none, host_resolv_conf=host) == "nameserver 9.9.9.9\nsearch a.b\noptions ndots:2\n"
    with pytest.raises(DnsError, match=r"spec\.dnsConfig\.nameservers"):
        render({"spec": {"dnsPolicy": "None"}})
    with pytest.raises(DnsError, match=r"spec\.dnsPolicy"):
        render({"spec": {"dnsPolicy": "Sometimes"}})


def test_kube_dns_service_objects():
    svc, eps = kube_dns_objects("10.244.0.1")
    assert svc["metadata"]["namespace"] == "kube-system" and svc["spec"]["clusterIP"] == "10.96.0.10"
    assert {p["protocol"] for p in eps["subsets"][0]["ports"]} == {"UDP", "TCP"}
