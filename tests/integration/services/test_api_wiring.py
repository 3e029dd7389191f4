"""End to end with the real API server: objects created through the API reach the kernel by watch.

API (sqlite store, in a thread) -> Follower (LIST + WATCH) -> ClusterObjects -> ProxyLoop -> iptables,
and the LoadBalancer IP goes back into the Service's status, as `kubectl get svc` shows it.
"""

from __future__ import annotations

from collections import Counter

import pytest
from waiting import wait_for as _wait_for

from minikube_py.api.testing import ThreadedApiServer
from minikube_py.network.dns import ClusterDNS
from minikube_py.network.proxy import ClusterObjects, Proxier, ProxyLoop
from minikube_py.network.proxy.lb import publish_status
from minikube_py.network.proxy.netns import run_in_netns
from minikube_py.network.proxy.source import Follower

from .conftest import CLUSTER_CIDR, LB_POOL, NODE_BRIDGE_IP, NODE_IP, POD_IPS, http_get, sh

pytestmark = [pytest.mark.integration]


def wait_for(what, fn, timeout=20.0):
    return _wait_for(what, fn, timeout, interval=0.05, retry_on=(OSError,))


@pytest.fixture
def wired(node, tmp_path):
    api = ThreadedApiServer(f"sqlite://{tmp_path}/state.db").start()
    client = api.client
    objects = ClusterObjects()
    proxier = Proxier(objects, node.node_ns, cluster_cidr=CLUSTER_CIDR, lb_pool=LB_POOL)
    follower = Follower(client, objects, kinds=["Service", "Endpoints"]).start()
    loop = ProxyLoop(proxier, after_sync=lambda p: publish_status(client, objects,
                                                                  p.load_balancer_ips())).start()
    try:
        yield client, objects, proxier, loop
    finally:
        loop.stop()
        follower.stop()
        proxier.teardown()
        api.stop()


def endpoints(ips):
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "myapp-service", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "http", "port": 3000}]}]}


def test_service_created_through_the_api_answers_and_gets_an_external_ip(node, wired):
    client, _, _, loop = wired
    svc = client.create({"apiVersion": "v1", "kind": "Service",
                         "metadata": {"name": "myapp-service", "namespace": "default"},
                         "spec": {"type": "LoadBalancer", "selector": {"app": "myapp"},
                                  "ports": [{"name": "http", "port": 80, "targetPort": 3000}]}})
    cluster_ip = svc["spec"]["clusterIP"]  # allocated by the API server
    node_port = svc["spec"]["ports"][0]["nodePort"]
    client.create(endpoints(POD_IPS))

    bodies = wait_for("the ClusterIP to answer", lambda: http_get(node.pod_ns(0), cluster_ip, 80, count=60))
    assert set(Counter(bodies)) == {"pod-1", "pod-2", "pod-3"}

    def ingress():
        svc = client.get("services", "myapp-service", "default")
        return svc.get("status", {}).get("loadBalancer", {}).get("ingress")

    ingress = wait_for("status.loadBalancer.ingress", ingress)
    lb_ip = ingress[0]["ip"]
    assert lb_ip == "192.168.77.200"
    assert len(set(http_get(node.ext_ns, lb_ip, 80, count=30))) >= 2
    assert set(http_get(node.ext_ns, NODE_IP, node_port, count=10)) <= {"pod-1", "pod-2", "pod-3"}

    # Scale to one through the API: the watch brings it, the loop resyncs, only pod-3 answers.
    current = client.get("endpoints", "myapp-service", "default")
    current["subsets"][0]["addresses"] = [{"ip": POD_IPS[2]}]
    client.update(current)
    wait_for("only pod-3 to answer",
             lambda: set(http_get(node.pod_ns(0), cluster_ip, 80, count=20)) == {"pod-3"})
    assert loop.last_error is None


def test_dns_follows_the_api(node, wired, tmp_path):
    from dnslib import DNSRecord

    client, objects, _, _ = wired
    dns = ClusterDNS(objects, (NODE_BRIDGE_IP, 53), netns=node.node_ns).start()
    try:
        svc = client.create({"apiVersion": "v1", "kind": "Service",
                             "metadata": {"name": "web", "namespace": "default"},
                             "spec": {"ports": [{"name": "http", "port": 80}]}})

        def ask():
            reply = run_in_netns(node.pod_ns(0), lambda: DNSRecord.parse(
                DNSRecord.question("web.default.svc.cluster.local").send(NODE_BRIDGE_IP, 53, timeout=3)))
            return [str(rr.rdata) for rr in reply.rr]

        assert wait_for("the A record", ask) == [svc["spec"]["clusterIP"]]
        client.delete("services", "web", "default")
        wait_for("NXDOMAIN after delete", lambda: ask() == [])
    finally:
        dns.stop()


def test_mkpy_proxy_run_serves_services_and_dns_from_the_api_then_cleans_up(node, tmp_path):
    import signal
    import subprocess
    import sys

    from minikube_py.network.dns.resolvconf import render
    from minikube_py.network.proxy.iptables import detect

    sock = str(tmp_path / "api.sock")
    api = ThreadedApiServer(f"sqlite://{tmp_path}/state.db", socket_path=sock).start()
    proc = None
    try:
        client = api.client
        svc = client.create({"apiVersion": "v1", "kind": "Service",
                             "metadata": {"name": "myapp-service", "namespace": "default"},
                             "spec": {"type": "LoadBalancer",
                                      "ports": [{"name": "http", "port": 80, "targetPort": 3000}]}})
        client.create(endpoints(POD_IPS))
        proc = subprocess.Popen([sys.executable, "-m", "minikube_py.cli.main", "proxy", "run",
                                 "--netns", node.node_ns, "--socket", sock, "--cluster-cidr", CLUSTER_CIDR,
                                 "--lb-pool", LB_POOL, "--dns-listen", f"{NODE_BRIDGE_IP}:53"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        cip = svc["spec"]["clusterIP"]
        assert set(wait_for("the ClusterIP", lambda: http_get(node.pod_ns(1), cip, 80, count=30))) == {
            "pod-1", "pod-2", "pod-3"}
        resolv = tmp_path / "resolv.conf"
        resolv.write_text(render({"metadata": {"namespace": "default"}, "spec": {}}))

        def nslookup():
            out = subprocess.run(["ip", "netns", "exec", node.pods[0], "unshare", "-m", "sh", "-c",
                                  f"mount --bind {resolv} /etc/resolv.conf && exec /bin/busybox nslookup"
                                  " myapp-service"], capture_output=True, text=True, timeout=30).stdout
            return cip in out

        wait_for("nslookup myapp-service through kube-dns 10.96.0.10", nslookup)
        def external_ip():
            return client.get("services", "myapp-service", "default").get("status", {}).get(
                "loadBalancer", {}).get("ingress")

        assert wait_for("EXTERNAL-IP", external_ip) == [{"ip": "192.168.77.200"}]
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
            assert proc.returncode == 0, out
        api.stop()
    ipt = detect(node.node_ns)
    left = [line for t in ("nat", "filter") for line in ipt.save(t).splitlines()
            if "KUBE" in line or "MKPY" in line]
    assert left == []  # SIGTERM: every chain, jump and LB address removed
    assert "192.168.77." not in sh("ip", "-n", node.node, "-4", "addr", "show", "dev", "lo")
