"""The ingress controller: HTTP routing by Host and path to Services (class `mkpy`).

    routing.py     Ingress rules -> RouteTable.match(host, path)  (pure)
    backends.py    Service + Endpoints -> ClusterIP:port, or 503  (pure)
    server.py      the aiohttp reverse proxy, in the node's network namespace
    controller.py  informers, table rebuilds, status.loadBalancer
    cli.py         `mkpy ingress run` / `mkpy ingress routes`
"""

from minikube_py.network.ingress.errors import IngressError
from minikube_py.network.ingress.routing import Backend, Match, Route, RouteTable, is_ours

__all__ = ["Backend", "IngressError", "Match", "Route", "RouteTable", "is_ours"]
