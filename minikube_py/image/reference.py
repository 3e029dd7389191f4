"""Image references, normalised the way docker does it.

    busybox                    -> docker.io/library/busybox:latest
    myregistry.com/myapp:v1.0  -> myregistry.com/myapp:v1.0
    localhost:5000/a/b@sha256:...  (a digest pins the content; a tag is a movable name)

The first path component is a registry host only if it looks like one (has a `.`
or a `:`, or is `localhost`); otherwise the image lives on Docker Hub, and
one-component names there are under `library/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minikube_py.image.errors import ImageError

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_DOMAIN = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?$"
                     r"|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str            # repository inside the registry, e.g. library/busybox
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """The full name without tag or digest: docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.repository
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    @property
    def familiar(self) -> str:
        """The short form people type (docker's `docker images` REPOSITORY column)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.repository
        return self.path.removeprefix("library/")

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)


def parse(text: str) -> Reference:
    """Parse and normalise an image reference; a bad one raises ImageError naming the part."""
    if not text or text != text.strip():
        raise ImageError(f"invalid image reference {text!r}: empty or surrounded by spaces")
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise ImageError(f"invalid image reference {text!r}: digest must be sha256:<64 hex>")
    tag = None
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise ImageError(f"invalid image reference {text!r}: bad tag {tag!r}")
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, remainder
        if not _DOMAIN.match(domain):
            raise ImageError(f"invalid image reference {text!r}: bad registry host {domain!r}")
    else:
        domain, path = DEFAULT_DOMAIN, rest
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    for part in path.split("/"):
        if not _COMPONENT.match(part):
            raise ImageError(f"invalid image reference {text!r}: repository name component {part!r} "
                             "must be lowercase letters, digits and separators")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def normalize(text: str) -> str:
    return str(parse(text))
