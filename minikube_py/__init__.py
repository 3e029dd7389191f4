"""minikube_py: an educational Linux container runtime and Kubernetes node.

Layers, lowest first (a layer never imports one above it; tests/unit/test_layering.py checks):
    k8s         Kubernetes object logic on plain dicts (quantities, selectors, pod defaults);
                imports nothing else, every layer may use it
    kernel      the syscall facade over the native cffi shim
    runtime     OCI bundle -> isolated, limited process (runc's role)
    image       image store, registry client, builds
    network     CNI bridge plugin, IPAM, service proxy, DNS
    kubelet     the node agent running pod specs
    api         Kubernetes-shaped objects, storage and HTTP server; its client library
                (api.client, api.informer) serves network, kubelet, controllers, scheduler
    controllers, scheduler
    cli         `mkpy`, the student's entry point
"""

__version__ = "0.1.0"
