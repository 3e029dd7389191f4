"""Joining a node, server side: the two endpoints a new machine talks to.

  GET  /mkpy/cluster-info   anonymous: the cluster CA (PEM). The node fetches it over an
                            unverified TLS connection and accepts it only if the SHA-256 of
                            its public key equals the --ca-cert-hash it was given (kubeadm's
                            kube-public/cluster-info discovery, without the JWS signature).
  POST /mkpy/join           with a bootstrap token: {"nodeName": N} -> a fresh per-node
                            token bound to system:node:N. Joining again replaces the old one.
The client half is minikube_py/multinode/join.py.
"""

from __future__ import annotations

import json
import re

from aiohttp import web

from . import auth
from .authn import CLUSTER_INFO_PATH, JOIN_PATH, User
from .errors import ApiError, bad_request
from .resources import lookup
from .selectors import parse_or_400

CA_PEM = web.AppKey("ca_pem", bytes)
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


async def cluster_info(request: web.Request) -> web.Response:
    ca = request.app.get(CA_PEM)
    if not ca:
        raise ApiError("NotFound", "this API server has no cluster CA (it serves no TLS)")
    return web.json_response({"certificateAuthority": ca.decode()})


async def join(request: web.Request) -> web.Response:
    from .server import AUTHN, REGISTRY, USER

    user: User | None = request.get(USER)
    if user is None:
        raise ApiError("Unauthorized", "joining needs a bootstrap token")
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise bad_request('join: the body must be JSON like {"nodeName": "w1"}') from None
    node = (body or {}).get("nodeName") if isinstance(body, dict) else None
    if not isinstance(node, str) or len(node) > 253 or not _NAME_RE.match(node):
        raise bad_request(f"nodeName: {node!r} is not a valid node name (a DNS-1123 subdomain)")
    registry = request.app[REGISTRY]
    secrets = lookup("secrets")
    # Re-joining (a reinstalled machine) revokes the credentials the node had before.
    label, field = parse_or_400(f"mkpy.io/node={node}", None, "secrets")
    old = await registry.list(secrets, "kube-system", label, field)
    for s in old["items"]:
        if s.get("type") == auth.NODE_CREDENTIAL_TYPE:
            await registry.delete(secrets, "kube-system", s["metadata"]["name"], {})
    request.app[AUTHN].forget()
    token, secret = auth.node_credential_secret(node)
    await registry.create(secrets, "kube-system", secret)
    return web.json_response(
        {"nodeName": node, "user": f"system:node:{node}", "token": token, "joinedBy": user.name}, status=201
    )


def add_routes(app: web.Application, ca_pem: bytes | None) -> None:
    if ca_pem:
        app[CA_PEM] = ca_pem
    app.router.add_get(CLUSTER_INFO_PATH, cluster_info)
    app.router.add_post(JOIN_PATH, join)
