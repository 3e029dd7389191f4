"""Kubernetes object logic shared by every layer: pure functions on plain dicts.

The bottom of the layer picture next to `kernel`: modules here import nothing else from
minikube_py, so the API server, the controllers, the scheduler, the kubelet and the network
policy code can all use one implementation of quantities, label selectors and metadata.
"""
