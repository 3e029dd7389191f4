"""minikube_py: an educational Linux container runtime and Kubernetes node.

Layers, lowest first (a layer never imports one above it):
    kernel      the syscall facade over the native cffi shim
    runtime     OCI bundle -> isolated, limited process (runc's role)
    image       image store, registry client, builds
    network     CNI bridge plugin, IPAM, service proxy, DNS
    kubelet     the node agent running pod specs
    api         Kubernetes-shaped objects, storage and HTTP server
    controllers, scheduler
    cli         `mkpy`, the student's entry point
"""

__version__ = "0.1.0"
