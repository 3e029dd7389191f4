"""OpenAPI documents, just enough for kubectl (v3 as JSON, v2 as protobuf).

kubectl >= 1.27 asks /openapi/v3 which group-versions have a document, and reads that
document's schemas to see whether the server validates fields itself (a schema carrying
`x-kubernetes-group-version-kind` for the kind means "yes, send fieldValidation=Strict").
With that answer, `kubectl apply` needs no client-side schema download (/openapi/v2).
kubectl looks for a PATCH operation tagged with the kind that takes a `fieldValidation`
query parameter. The documents here list kinds and operations; they do not describe fields.
"""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from .resources import GROUPS, RESOURCES


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _package(group: str) -> str:
    short = group.split(".")[0] if group else "core"
    return f"io.k8s.api.{short}"


def gv_document(group: str, version: str) -> dict:
    schemas, paths = {}, {}
    params = [
        {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for n in ("dryRun", "fieldManager", "fieldValidation", "force")
    ]
    for r in RESOURCES:
        if r.group == group and r.version == version:
            base = "/" + _gv_path(group, version) + ("/namespaces/{namespace}" if r.namespaced else "")
            gvk = {"group": group, "kind": r.kind, "version": version}
            paths[f"{base}/{r.plural}/{{name}}"] = {
                "patch": {
                    "operationId": f"patch{r.kind}",
                    "parameters": params,
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                    "responses": {"200": {"description": "OK"}},
                },
                "put": {
                    "operationId": f"replace{r.kind}",
                    "parameters": params,
                    "x-kubernetes-action": "put",
                    "x-kubernetes-group-version-kind": gvk,
                    "responses": {"200": {"description": "OK"}},
                },
            }
            paths[f"{base}/{r.plural}"] = {
                "post": {
                    "operationId": f"create{r.kind}",
                    "parameters": params,
                    "x-kubernetes-action": "post",
                    "x-kubernetes-group-version-kind": gvk,
                    "responses": {"201": {"description": "Created"}},
                }
            }
            for kind in (r.kind, f"{r.kind}List"):
                schemas[f"{_package(group)}.{version}.{kind}"] = {
                    "type": "object",
                    "x-kubernetes-group-version-kind": [{"group": group, "kind": kind, "version": version}],
                }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.30.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _hash(doc: dict) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()


async def v3_root(request: web.Request) -> web.Response:
    paths = {}
    for group, versions in GROUPS.items():
        for v in versions:
            path = _gv_path(group, v)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(gv_document(group, v))}"}
    return web.json_response({"paths": paths})


async def v3_gv(request: web.Request) -> web.Response:
    parts = request.match_info["tail"].strip("/").split("/")
    if parts[0] == "api" and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        raise web.HTTPNotFound()
    if version not in GROUPS.get(group, []):
        raise web.HTTPNotFound()
    return web.json_response(gv_document(group, version))


# ---------------------------------------------------------------- OpenAPI v2 (protobuf)
# Older kubectl (<= 1.29, and 1.20) validates client-side against /openapi/v2, which it only
# accepts as protobuf (gnostic's openapi_v2.Document). Ours is valid but describes no kind,
# so kubectl leaves validation to the server. Field numbers are gnostic's OpenAPIv2.proto.


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, payload: bytes | str) -> bytes:
    """A length-delimited field (wire type 2): strings and embedded messages."""
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def v2_document() -> bytes:
    definitions = b""
    for r in RESOURCES:
        # Deliberately no x-kubernetes-group-version-kind: kubectl then finds no schema for the
        # kind, skips client-side validation and computes strategic merge patches from its
        # built-in Go types (an "any value" schema here makes kubectl 1.20's apply crash).
        schema = _field(4, f"{r.kind} ({r.api_version}): validated by the server")
        definitions += _field(1, _field(1, f"{_package(r.group)}.{r.version}.{r.kind}") + _field(2, schema))
    info = _field(1, "Kubernetes") + _field(2, "v1.30.0")
    return _field(1, "2.0") + _field(2, info) + _field(8, b"") + _field(9, definitions)


async def v2(request: web.Request) -> web.Response:
    return web.Response(
        body=v2_document(), content_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/openapi/v2", v2)
    app.router.add_get("/swagger-2.0.0.pb-v1", v2)
    app.router.add_get("/openapi/v3", v3_root)
    app.router.add_get("/openapi/v3/{tail:.+}", v3_gv)
