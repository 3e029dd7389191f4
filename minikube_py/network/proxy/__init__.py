"""The service proxy: kube-proxy's iptables mode for a node network namespace.

    objects = ClusterObjects()            # fed with Services and Endpoints (watch events)
    proxier = Proxier(objects, netns="/run/netns/mkpy-node", cluster_cidr="10.244.0.0/16",
                      lb_pool="192.168.77.200-192.168.77.250")
    proxier.sync()                         # one iptables-restore --noflush
    proxier.teardown()

Read rules.py for the chains a packet walks, proxier.py for how they are loaded.
"""

from minikube_py.network.proxy.errors import ProxyError
from minikube_py.network.proxy.proxier import Proxier, ProxyLoop, SyncResult
from minikube_py.network.proxy.source import ClusterObjects

__all__ = ["ClusterObjects", "Proxier", "ProxyError", "ProxyLoop", "SyncResult"]
