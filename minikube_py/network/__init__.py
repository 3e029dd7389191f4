"""The node's network: pod wiring (bridge CNI plugin, IPAM, node netns), the service proxy, cluster DNS
and NetworkPolicy. Each sub-package stands on its own."""
