"""The proxier in a real node namespace: ClusterIP, NodePort, LoadBalancer, hairpin, cleanup."""

from __future__ import annotations

from collections import Counter

import pytest

from minikube_py.network.proxy import ClusterObjects, Proxier
from minikube_py.network.proxy.lb import status_patch

from .conftest import CLUSTER_CIDR, LB_POOL, NODE_IP, POD_IPS, http_get, sh

pytestmark = [pytest.mark.integration, pytest.mark.vm]

CIP = "10.96.0.50"


def service(name="myapp-service", cluster_ip=CIP, type_="LoadBalancer", node_port=30080):
    port = {"name": "http", "port": 80, "targetPort": 3000, "protocol": "TCP"}
    if node_port:
        port["nodePort"] = node_port
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"type": type_, "clusterIP": cluster_ip, "ports": [port]}}


def endpoints(ready, not_ready=(), name="myapp-service"):
    subset = {"addresses": [{"ip": ip} for ip in ready], "ports": [{"name": "http", "port": 3000}]}
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {"metadata": {"name": name, "namespace": "default"}, "subsets": [subset]}


def kube_rules(ipt) -> list[str]:
    return [line for t in ("nat", "filter") for line in ipt.save(t).splitlines() if "KUBE" in line]


@pytest.fixture
def proxy(node):
    objects = ClusterObjects()
    proxier = Proxier(objects, node.node_ns, cluster_cidr=CLUSTER_CIDR, lb_pool=LB_POOL)
    try:
        yield objects, proxier
    finally:
        proxier.teardown()
        # Deleting everything leaves no chain, no rule, no LB address.
        assert kube_rules(proxier.iptables) == []
        assert "192.168.77." not in sh("ip", "-n", node.node, "-4", "addr", "show", "dev", "lo")


def chi_square(counts: Counter, names: list[str], total: int) -> float:
    expected = total / len(names)
    return sum((counts[n] - expected) ** 2 / expected for n in names)


def test_cluster_ip_spreads_over_ready_endpoints_from_pod_and_node(node, proxy):
    objects, proxier = proxy
    objects.apply("Service", service())
    objects.apply("Endpoints", endpoints(POD_IPS))
    result = proxier.sync()
    assert result.full and result.restore_text.count("COMMIT") == 2

    bodies = http_get(node.pod_ns(1), CIP, 80, count=300)  # from pod-2 (it may land on itself: hairpin)
    counts = Counter(bodies)
    assert len(bodies) == 300 and set(counts) == {"pod-1", "pod-2", "pod-3"}
    # Fair share: chi-square with 2 degrees of freedom stays under 13.8 with probability 99.9%.
    assert chi_square(counts, ["pod-1", "pod-2", "pod-3"], 300) < 13.8, counts

    from_node = Counter(http_get(node.node_ns, CIP, 80, count=60))
    assert set(from_node) == {"pod-1", "pod-2", "pod-3"}, from_node


def test_scale_down_and_unready_endpoints_get_no_traffic(node, proxy):
    objects, proxier = proxy
    objects.apply("Service", service())
    objects.apply("Endpoints", endpoints(POD_IPS))
    proxier.sync()
    objects.apply("Endpoints", endpoints([POD_IPS[1]]))  # scaled to one
    result = proxier.sync()
    assert not result.full and "nat/KUBE-SERVICES" not in result.written
    assert set(http_get(node.pod_ns(0), CIP, 80, count=30)) == {"pod-2"}

    objects.apply("Endpoints", endpoints(POD_IPS[:2], not_ready=[POD_IPS[2]]))
    proxier.sync()
    counts = Counter(http_get(node.pod_ns(0), CIP, 80, count=60))
    assert set(counts) == {"pod-1", "pod-2"}, counts


def test_node_port_and_load_balancer_ip_answer_from_outside(node, proxy):
    objects, proxier = proxy
    objects.apply("Service", service())
    objects.apply("Endpoints", endpoints(POD_IPS))
    proxier.sync()
    lb_ip = proxier.load_balancer_ips()[("default", "myapp-service")]
    assert status_patch(lb_ip)["status"]["loadBalancer"]["ingress"] == [{"ip": "192.168.77.200"}]
    assert set(http_get(node.ext_ns, NODE_IP, 30080, count=30)) <= {"pod-1", "pod-2", "pod-3"}
    assert len(set(http_get(node.ext_ns, lb_ip, 80, count=30))) >= 2


def test_pod_reaches_itself_through_its_service(node, proxy):
    objects, proxier = proxy
    assert "hairpin on" in sh("ip", "-n", node.node, "-d", "link", "show", "veth1")
    objects.apply("Service", service("self", "10.96.0.51", type_="ClusterIP", node_port=None))
    objects.apply("Endpoints", endpoints([POD_IPS[0]], name="self"))
    proxier.sync()
    assert http_get(node.pod_ns(0), "10.96.0.51", 80, count=5) == ["pod-1"] * 5


def test_service_without_endpoints_refuses_at_once(node, proxy):
    objects, proxier = proxy
    objects.apply("Service", service("empty", "10.96.0.52", type_="ClusterIP", node_port=None))
    proxier.sync()
    with pytest.raises(ConnectionRefusedError):
        http_get(node.pod_ns(0), "10.96.0.52", 80)


def test_backend_is_the_one_the_kernel_supports(node, proxy):
    import os

    _, proxier = proxy
    # The VM lane's kernel has no nftables for IPv4: the proxier must have found legacy there.
    if os.environ.get("MKPY_IN_VM") == "1":
        assert proxier.iptables.backend == "legacy"
    else:
        assert proxier.iptables.backend in ("nft", "legacy")


def test_mkpy_proxy_walk_prints_the_live_path(node, proxy):
    import subprocess
    import sys

    objects, proxier = proxy
    objects.apply("Service", service())
    objects.apply("Endpoints", endpoints(POD_IPS[:2]))
    proxier.sync()
    out = subprocess.run([sys.executable, "-m", "minikube_py.cli.main", "proxy", "walk", "--netns",
                          node.node_ns, CIP, "80"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("DNAT --to-destination") == 2 and "KUBE-SVC-" in out.stdout
    show = subprocess.run([sys.executable, "-m", "minikube_py.cli.main", "proxy", "show", "--netns",
                           node.node_ns], capture_output=True, text=True, timeout=60)
    assert show.returncode == 0, show.stderr
    assert f"-d {CIP}/32" in show.stdout and "-A KUBE-FORWARD" in show.stdout


def test_session_affinity_client_ip_sticks_to_one_endpoint(node, proxy):
    objects, proxier = proxy
    svc = service("sticky", "10.96.0.53", type_="ClusterIP", node_port=None)
    svc["spec"]["sessionAffinity"] = "ClientIP"
    objects.apply("Service", svc)
    objects.apply("Endpoints", endpoints(POD_IPS, name="sticky"))
    proxier.sync()
    for pod in (0, 2):
        assert len(set(http_get(node.pod_ns(pod), "10.96.0.53", 80, count=20))) == 1


def udp_echo_servers(node):
    """A UDP server in each pod answering its pod name; returns a stop function."""
    import socket
    import threading

    from minikube_py.network.proxy.netns import run_in_netns

    socks = []
    for i in range(3):
        def make():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", 5353))
            return s
        s = run_in_netns(node.pod_ns(i), make)
        socks.append(s)

        def serve(s=s, name=f"pod-{i + 1}"):
            while True:
                try:
                    _, addr = s.recvfrom(100)
                    if addr is None:  # woken by shutdown()
                        return
                    s.sendto(name.encode(), addr)
                except OSError:
                    return
        threading.Thread(target=serve, daemon=True).start()

    def stop():
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the blocked recvfrom
            except OSError:
                pass
            s.close()
    return stop


def test_removed_udp_endpoint_conntrack_is_flushed(node, proxy):
    import socket

    from minikube_py.network.proxy.netns import run_in_netns

    objects, proxier = proxy
    svc = service("udp", "10.96.0.54", type_="ClusterIP", node_port=None)
    svc["spec"]["ports"] = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    objects.apply("Service", svc)
    eps = {"metadata": {"name": "udp", "namespace": "default"},
           "subsets": [{"addresses": [{"ip": POD_IPS[1]}], "ports": [{"name": "dns", "port": 5353,
                                                                     "protocol": "UDP"}]}]}
    objects.apply("Endpoints", eps)
    proxier.sync()
    stop = udp_echo_servers(node)
    client = run_in_netns(node.pod_ns(0), lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    try:
        client.settimeout(3)
        client.connect(("10.96.0.54", 53))  # one socket = one 5-tuple = one conntrack entry
        client.send(b"?")
        assert client.recv(100) == b"pod-2"
        # pod-2 goes away, pod-3 takes over: the same 5-tuple must now reach pod-3, which only
        # happens if the proxier deleted the conntrack entry that still says "pod-2".
        eps["subsets"][0]["addresses"] = [{"ip": POD_IPS[2]}]
        objects.apply("Endpoints", {**eps})
        result = proxier.sync()
        assert any("--dst-nat 10.244.0.12" in c for c in result.conntrack_cleared)
        client.send(b"?")
        assert client.recv(100) == b"pod-3"
    finally:
        client.close()
        stop()


def client_seen_by_pod(netns: str, ip: str, port: int) -> str:
    """The client address the answering pod saw (busybox httpd reports it IPv4-mapped: [::ffff:a.b.c.d])."""
    (seen,) = http_get(netns, ip, port, path="/cgi-bin/ip")
    return seen.strip("[]").removeprefix("::ffff:")


def test_external_traffic_policy_local_keeps_the_client_address(node, proxy):
    objects, proxier = proxy
    objects.apply("Service", service())
    objects.apply("Endpoints", endpoints([POD_IPS[0]]))
    proxier.sync()
    lb_ip = proxier.load_balancer_ips()[("default", "myapp-service")]
    # Cluster (the default): masqueraded, the pod sees the node's bridge address.
    assert client_seen_by_pod(node.ext_ns, lb_ip, 80) == "10.244.0.1"
    local = service()
    local["spec"]["externalTrafficPolicy"] = "Local"
    objects.apply("Service", local)
    proxier.sync()
    assert client_seen_by_pod(node.ext_ns, lb_ip, 80) == "192.168.77.1"
    assert client_seen_by_pod(node.ext_ns, NODE_IP, 30080) == "192.168.77.1"
    # Pods still take the cluster path (and a pod calling the LB IP is still answered).
    assert http_get(node.pod_ns(1), lb_ip, 80) == ["pod-1"]


def test_load_balancer_source_ranges_admit_only_those_clients(node, proxy):
    objects, proxier = proxy
    svc = service()
    svc["spec"]["loadBalancerSourceRanges"] = ["10.0.0.0/8"]
    objects.apply("Service", svc)
    objects.apply("Endpoints", endpoints(POD_IPS))
    proxier.sync()
    lb_ip = proxier.load_balancer_ips()[("default", "myapp-service")]
    with pytest.raises(TimeoutError):  # 192.168.77.1 is not in 10.0.0.0/8: dropped
        http_get(node.ext_ns, lb_ip, 80, timeout=0.7)
    assert http_get(node.pod_ns(0), lb_ip, 80, count=3)  # a pod (10.244.0.11) is
    svc["spec"]["loadBalancerSourceRanges"] = ["192.168.77.0/24"]
    objects.apply("Service", {**svc})
    proxier.sync()
    assert http_get(node.ext_ns, lb_ip, 80, count=3)
