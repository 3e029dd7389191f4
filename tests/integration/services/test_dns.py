"""Cluster DNS in the node namespace, reached from a pod through the kube-dns ClusterIP."""

from __future__ import annotations

import subprocess
import threading

import pytest
from dnslib import QTYPE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from minikube_py.network.dns import ClusterDNS, kube_dns_objects
from minikube_py.network.dns.resolvconf import render
from minikube_py.network.proxy import ClusterObjects, Proxier
from minikube_py.network.proxy.netns import enter_netns, run_in_netns

from .conftest import CLUSTER_CIDR, NODE_BRIDGE_IP, POD_IPS

pytestmark = [pytest.mark.integration, pytest.mark.vm]

DNS_IP = "10.96.0.10"


class FakeUpstream(BaseResolver):
    """The 'internet' resolver: answers example.org, inside the node namespace on loopback."""

    def resolve(self, request, handler):
        reply = request.reply()
        if str(request.q.qname) == "example.org.":
            reply.add_answer(RR("example.org.", QTYPE.A, ttl=60, rdata=A("93.184.216.34")))
        return reply


def start_upstream(netns: str) -> tuple[DNSServer, int]:
    box = {}
    ready = threading.Event()

    def serve():
        enter_netns(netns)
        server = DNSServer(FakeUpstream(), port=0, address="127.0.0.1", logger=DNSLogger("-request,-reply"))
        box["server"] = server
        ready.set()
        server.start()

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)
    server = box["server"]
    return server, server.server.server_address[1]


def query(netns: str, name: str, qtype: str = "A", server: str = DNS_IP) -> DNSRecord:
    return run_in_netns(netns, lambda: DNSRecord.parse(
        DNSRecord.question(name, qtype).send(server, 53, timeout=5)))


@pytest.fixture(scope="module")
def cluster(node):
    """One DNS server, upstream and proxier for the whole module (set up once: the VM lane is slow)."""
    objects = ClusterObjects()
    svc, eps = kube_dns_objects(NODE_BRIDGE_IP, DNS_IP)
    objects.apply("Service", svc)
    objects.apply("Endpoints", eps)
    objects.apply("Service", {"metadata": {"name": "myapp-service", "namespace": "default"},
                              "spec": {"clusterIP": "10.96.0.50", "ports": [{"name": "http", "port": 80}]}})
    objects.apply("Service", {"metadata": {"name": "db", "namespace": "default"},
                              "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}})
    objects.apply("Endpoints", {"metadata": {"name": "db", "namespace": "default"},
                                "subsets": [{"addresses": [{"ip": POD_IPS[0]}, {"ip": POD_IPS[1]}],
                                             "notReadyAddresses": [{"ip": POD_IPS[2]}],
                                             "ports": [{"name": "pg", "port": 5432}]}]})
    upstream, port = start_upstream(node.node_ns)
    proxier = Proxier(objects, node.node_ns, cluster_cidr=CLUSTER_CIDR)
    dns = None
    try:
        dns = ClusterDNS(objects, (NODE_BRIDGE_IP, 53), netns=node.node_ns,
                         upstreams=[("127.0.0.1", port)]).start()
        proxier.sync()
        yield objects
    finally:
        if dns:
            dns.stop()
        upstream.stop()
        upstream.server.server_close()
        proxier.teardown()


def test_nslookup_in_a_pod_returns_the_cluster_ip(node, cluster, tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(render({"metadata": {"namespace": "default"}, "spec": {}}, cluster_dns=DNS_IP))
    # The pod's own /etc/resolv.conf, in a private mount namespace (as the kubelet bind-mounts it).
    out = subprocess.run(
        ["ip", "netns", "exec", node.pods[0], "unshare", "-m", "sh", "-c",
         f"mount --bind {resolv} /etc/resolv.conf && {{ /bin/busybox nslookup myapp-service;"
         " getent ahostsv4 db.default; }"],  # glibc completes <svc>.<ns> through the search list too
        capture_output=True, text=True, timeout=30)
    assert "10.96.0.50" in out.stdout, out.stdout + out.stderr
    assert "myapp-service.default.svc.cluster.local" in out.stdout
    assert "db.default.svc.cluster.local" in out.stdout and POD_IPS[0] in out.stdout


def test_headless_srv_nxdomain_and_forwarding(node, cluster):
    pod = node.pod_ns(1)
    headless = query(pod, "db.default.svc.cluster.local")
    assert sorted(str(rr.rdata) for rr in headless.rr) == sorted(POD_IPS[:2])
    srv = query(pod, "_http._tcp.myapp-service.default.svc.cluster.local", "SRV")
    assert [(rr.rdata.port, str(rr.rdata.target)) for rr in srv.rr] == [
        (80, "myapp-service.default.svc.cluster.local.")]
    assert query(pod, "nothere.default.svc.cluster.local").header.rcode == 3  # NXDOMAIN
    assert [str(rr.rdata) for rr in query(pod, "example.org").rr] == ["93.184.216.34"]


def test_answers_change_at_once(node, cluster):
    before = cluster.get("Service", "default", "myapp-service")
    try:
        name = "myapp-service.default.svc.cluster.local"
        cluster.apply("Service", {**before, "spec": {**before["spec"], "clusterIP": "10.96.0.77"}})
        assert [str(rr.rdata) for rr in query(node.pod_ns(0), name).rr] == ["10.96.0.77"]
        cluster.delete("Service", "default", "myapp-service")
        assert query(node.pod_ns(0), name).header.rcode == 3
    finally:
        cluster.apply("Service", before)


def test_tcp_queries_work_too(node, cluster):
    reply = run_in_netns(node.pod_ns(2), lambda: DNSRecord.parse(
        DNSRecord.question("myapp-service.default.svc.cluster.local").send(DNS_IP, 53, tcp=True, timeout=5)))
    assert [str(rr.rdata) for rr in reply.rr] == ["10.96.0.50"]
