"""Hairpin mode on bridge ports: let a frame leave by the port it came in on.

A pod calling its own Service is DNATed back to itself. After the SEP chain's masquerade the
packet must go out of the very bridge port it arrived on, which a Linux bridge refuses unless
the port is in hairpin mode. The CNI bridge plugin sets it per pod (`"hairpinMode": true`);
this helper does it for every port of a bridge, for pods wired by something that did not.
"""

from __future__ import annotations

from minikube_py.network.proxy.errors import ProxyError
from minikube_py.network.proxy.netns import run_in_netns


def set_hairpin(netns: str | None, bridge: str, on: bool = True) -> list[str]:
    """Set hairpin mode on every port of `bridge`; returns the port names changed."""

    def work() -> list[str]:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=bridge)
            if not found:
                raise ProxyError(f"bridge {bridge!r} does not exist in the node namespace")
            names = []
            for link in ipr.get_links():
                if link.get_attr("IFLA_MASTER") == found[0]:
                    ipr.brport("set", index=link["index"], mode=int(on))
                    names.append(link.get_attr("IFLA_IFNAME"))
            return names

    return run_in_netns(netns, work)
