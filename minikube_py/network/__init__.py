"""Pod networking: node network namespaces, pod netns files, and CNI (plugin, IPAM, invocation).

    from minikube_py.network import NodeNetwork, create_netns, delete_netns
    from minikube_py.network import cni      # cni.invoke(conflist, "ADD", ...)

Sub-packages proxy/, dns/ and policy/ (services) build on the node namespace made here.
Names are imported on first use (PEP 562), so a CNI plugin process that needs only
the IPAM code does not pay for the rest at every start.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "NetworkError": "minikube_py.network.errors",
    "NETNS_DIR": "minikube_py.network.netns",
    "create_netns": "minikube_py.network.netns",
    "delete_netns": "minikube_py.network.netns",
    "is_netns": "minikube_py.network.netns",
    "NodeNetwork": "minikube_py.network.node",
    "Uplink": "minikube_py.network.node",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
