"""The control plane's API server: Kubernetes-shaped HTTP, storage, objects, watch, client.

Request path (see docs/control-plane.md):
  server.py (aiohttp; auth, URL -> resource) -> registry.py (object semantics:
  defaulting, validation, resourceVersion, graceful delete) -> storage/ (SQLite or etcd,
  one global revision) -> watch events back out through server.py.

This package imports nothing from runtime/network/kubelet: it only stores and serves objects.
"""
