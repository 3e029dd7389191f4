"""Which URL serves a registry name: a hosts directory in containerd's format.

    <hosts_dir>/myregistry.com/hosts.toml        (hosts_dir: <root>/certs.d, $MKPY_HOSTS_DIR)

        server = "http://127.0.0.1:5000"          # the registry itself; http:// = plain HTTP (insecure)

        [host."https://mirror.example:5443"]      # mirrors, tried first, in file order
          capabilities = ["pull", "resolve"]      # "push" to allow pushing there
          ca = "mirror-ca.pem"                    # CA file for HTTPS (relative to this file's dir)
          skip_verify = false

`_default/hosts.toml` applies to registries without their own file. With no
file at all the server is https://<name> (Docker Hub: https://registry-1.docker.io),
and loopback registries (localhost, 127.0.0.1) are spoken to in plain HTTP, as docker does.
This is what lets the guide's manifests say `myregistry.com/myapp:v1.0` unchanged.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field

from minikube_py.image.errors import ImageError


@dataclass
class Endpoint:
    url: str                                  # scheme://host[:port], no trailing slash
    capabilities: list[str] = field(default_factory=lambda: ["pull", "resolve", "push"])
    ca: str | None = None
    skip_verify: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def insecure(self) -> bool:
        return self.url.startswith("http://")


def _default_server(domain: str) -> str:
    if domain == "docker.io":
        return "https://registry-1.docker.io"
    host = domain.rsplit(":", 1)[0] if not domain.startswith("[") else domain.split("]")[0] + "]"
    if host in ("localhost", "127.0.0.1", "[::1]"):
        return f"http://{domain}"
    return f"https://{domain}"


def endpoints(hosts_dir: str | None, domain: str, capability: str) -> list[Endpoint]:
    """The URLs to try for `domain`, mirrors first, each able to do `capability` (pull or push)."""
    config_file = None
    if hosts_dir:
        for name in (domain, "_default"):
            candidate = os.path.join(hosts_dir, name, "hosts.toml")
            if os.path.exists(candidate):
                config_file = candidate
                break
    if config_file is None:
        return [Endpoint(_default_server(domain))]
    try:
        with open(config_file, "rb") as f:
            conf = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ImageError(f"registry hosts file {config_file}: {exc}") from None
    base = os.path.dirname(config_file)

    def make(url: str, entry: dict, default_caps: list[str]) -> Endpoint:
        if not url.startswith(("http://", "https://")):
            raise ImageError(f"registry hosts file {config_file}: {url!r} must start with http:// or https://")
        ca = entry.get("ca")
        if isinstance(ca, list):
            ca = ca[0] if ca else None
        if ca and not os.path.isabs(ca):
            ca = os.path.join(base, ca)
        return Endpoint(url.rstrip("/"), list(entry.get("capabilities", default_caps)), ca,
                        bool(entry.get("skip_verify", False)), dict(entry.get("header", {})))

    found = [make(url, entry, ["pull", "resolve"]) for url, entry in (conf.get("host") or {}).items()]
    server = conf.get("server") or _default_server(domain)
    found.append(make(server, conf, ["pull", "resolve", "push"]))
    usable = [e for e in found if capability in e.capabilities]
    if not usable:
        raise ImageError(f"registry hosts file {config_file}: no host may {capability}")
    return usable


def write_mirror(hosts_dir: str, domain: str, server: str, ca: str | None = None) -> str:
    """Write `<hosts_dir>/<domain>/hosts.toml` mapping domain -> server (used by tests and docs)."""
    d = os.path.join(hosts_dir, domain)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "hosts.toml")
    with open(path, "w") as f:
        f.write(f'server = "{server}"\n')
        if ca:
            f.write(f'ca = "{ca}"\n')
    return path
