"""Pod networking: node network namespaces, pod netns files, and CNI (plugin, IPAM, invocation).

    from minikube_py.network import NodeNetwork, create_netns, delete_netns, cni

Sub-packages proxy/, dns/ and policy/ (services) build on the node namespace made here.
Importing this package is cheap: pyroute2 is loaded only by the code that talks netlink.
"""

from minikube_py.network.errors import NetworkError
from minikube_py.network.netns import NETNS_DIR, create_netns, delete_netns, is_netns
from minikube_py.network.node import NodeNetwork, Uplink

__all__ = ["NETNS_DIR", "NetworkError", "NodeNetwork", "Uplink", "create_netns", "delete_netns", "is_netns"]
