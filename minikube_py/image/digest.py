"""Digests, media types and small JSON helpers shared by the image modules."""

from __future__ import annotations

import hashlib
import json
import platform
import re

from minikube_py.image.errors import ImageError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
REF_NAME = "org.opencontainers.image.ref.name"

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """Only sha256 digests, in canonical form: they become file names, so nothing else gets in."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ImageError(f"invalid digest {digest!r}: expected sha256:<64 lowercase hex>")
    return digest


def canonical_json(obj: object) -> bytes:
    """Stable bytes for a JSON document we author (so its digest is reproducible)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def host_platform() -> dict[str, str]:
    """The OCI platform of this machine: index entries are matched against it."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)
    return {"os": "linux", "architecture": arch}


def pick_platform(index: dict) -> dict:
    """The manifest descriptor of an image index that fits this machine."""
    want = host_platform()
    entries = index.get("manifests") or []
    for desc in entries:
        plat = desc.get("platform") or {}
        if plat.get("os") == want["os"] and plat.get("architecture") == want["architecture"]:
            return desc
    # A one-entry index without platform data (what umoci and skopeo often write) is taken as is.
    if len(entries) == 1 and not entries[0].get("platform"):
        return entries[0]
    have = [f"{(d.get('platform') or {}).get('os')}/{(d.get('platform') or {}).get('architecture')}"
            for d in entries]
    raise ImageError(f"no manifest for {want['os']}/{want['architecture']} in the image index "
                     f"(it has {', '.join(have) or 'none'})", reason="NotFound")
