"""Cluster DNS: `<svc>.<ns>.svc.cluster.local` answered from Services and Endpoints, the rest forwarded.

    dns = ClusterDNS(objects, ("10.244.0.1", 53), netns="/run/netns/mkpy-node",
                     upstreams=[("192.168.77.1", 53)]).start()
    resolvconf.render(pod)   # what the kubelet writes into the pod

It is published as the Service kube-system/kube-dns (ClusterIP 10.96.0.10): kube_dns_objects()
gives the Service and Endpoints, so the proxier routes 10.96.0.10:53 to this server.
"""

from minikube_py.network.dns.errors import DnsError
from minikube_py.network.dns.records import ClusterRecords
from minikube_py.network.dns.server import ClusterDNS

DEFAULT_CLUSTER_DNS = "10.96.0.10"


def kube_dns_objects(server_ip: str, cluster_ip: str = DEFAULT_CLUSTER_DNS,
                     port: int = 53) -> tuple[dict, dict]:
    """The kube-system/kube-dns Service and its Endpoints, pointing at this node's DNS server."""
    meta = {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"},
             {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
           "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "ports": ports}}
    eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": dict(meta),
           "subsets": [{"addresses": [{"ip": server_ip}],
                        "ports": [{**p, "port": port} for p in ports]}]}
    return svc, eps


__all__ = ["DEFAULT_CLUSTER_DNS", "ClusterDNS", "ClusterRecords", "DnsError", "kube_dns_objects"]
