"""Which backend a request goes to: Ingress rules as one table, pure functions on dicts.

The rules Kubernetes documents (and ingress-nginx implements), in the order we apply them:

1. **Host first.** The request's Host header (port stripped, lower-cased) picks one group of
   paths: rules with exactly that host, else rules whose `*.example.com` wildcard covers it
   (one extra label only: `a.example.com`, not `a.b.example.com` nor `example.com`), else the
   rules without a host. Like an nginx `server` block, a group is chosen on the host alone:
   if none of its paths matches, the request does not fall through to another group.
2. **Then the path**, among every path of that group (from all our Ingresses): the longest
   matching path wins; on equal length Exact beats Prefix. `Exact /foo` matches only `/foo`.
   `Prefix /foo` matches element by element: `/foo`, `/foo/`, `/foo/bar`, never `/foobar`;
   a trailing slash in the rule is ignored, and `Prefix /` matches everything.
   `ImplementationSpecific` is ours to define: we treat it as Prefix.
3. Nothing matched: the oldest Ingress's `spec.defaultBackend`, else the controller's own 404.

HTTPS: a rule whose host is listed in its Ingress's `spec.tls[].hosts` answers plain HTTP with a
308 redirect to https://, as ingress-nginx does by default. Lab material written for
ingress-nginx turns that off with its annotation `nginx.ingress.kubernetes.io/ssl-redirect:
"false"` (or forces it without TLS with `.../force-ssl-redirect: "true"`); we read those two.

Which Ingresses are ours: `spec.ingressClassName` (or the old `kubernetes.io/ingress.class`
annotation) names an IngressClass whose `spec.controller` is ours; an Ingress naming no class
is ours when one of our IngressClasses carries `ingressclass.kubernetes.io/is-default-class: "true"`.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

CONTROLLER = "mkpy.io/ingress"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
SSL_REDIRECT_ANNOTATION = "nginx.ingress.kubernetes.io/ssl-redirect"
FORCE_SSL_REDIRECT_ANNOTATION = "nginx.ingress.kubernetes.io/force-ssl-redirect"


@dataclass(frozen=True)
class Backend:
    """A Service port, by number (int) or by name (str), in the Ingress's namespace."""

    namespace: str
    service: str
    port: int | str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service}:{self.port}"


@dataclass(frozen=True)
class Route:
    host: str  # "" (any host), "foo.example.com" or "*.example.com"
    path: str  # as written in the rule ("" for ImplementationSpecific without a path means "/")
    path_type: str  # Exact | Prefix | ImplementationSpecific
    backend: Backend
    ingress: str  # "namespace/name", for log lines
    https_only: bool = False  # plain HTTP gets a 308 to https:// (see the module docstring)

    @property
    def exact(self) -> bool:
        return self.path_type == "Exact"

    def matches(self, path: str) -> bool:
        if self.exact:
            return path == self.path
        prefix = _elements(self.path or "/")
        return _elements(path)[: len(prefix)] == prefix

    def specificity(self) -> tuple[int, int]:
        """Longest path first; on a tie Exact before Prefix."""
        return (len(self.path.rstrip("/")) if not self.exact else len(self.path), 1 if self.exact else 0)


@dataclass
class Match:
    backend: Backend | None  # None: nobody serves this request (the caller answers 404)
    route: Route | None  # None when the default backend (or nothing) answered
    ingress: str = ""


def _elements(path: str) -> list[str]:
    # "/foo//bar/" -> ["foo", "bar"]: Prefix matching compares whole path elements
    return [p for p in path.split("/") if p]


def _backend(namespace: str, spec: Any) -> Backend | None:
    svc = (spec or {}).get("service") if isinstance(spec, dict) else None
    if not isinstance(svc, dict) or not svc.get("name"):
        return None  # a `resource` backend (a CRD's object): not something we can proxy to
    port = svc.get("port") or {}
    return Backend(namespace, svc["name"], port.get("number") or port.get("name") or 0)


def tls_entry_hosts(spec: dict, entry: dict) -> list[str]:
    """The hosts one `spec.tls` entry covers, lower-cased: its own list, or when it lists none,
    the Ingress's rule hosts (the redirect here and the certificates in tls.py agree on this)."""
    hosts = entry.get("hosts") or [r["host"] for r in spec.get("rules") or [] if r.get("host")]
    return [h.lower() for h in hosts]


def covering_name(host: str, names: Container[str]) -> str | None:
    """The name in `names` that covers host: host itself, else a wildcard one label up
    (`*.example.com` covers `a.example.com`, not `a.b.example.com` nor `example.com`)."""
    if host in names:
        return host
    first, dot, rest = host.partition(".")
    if first and dot and f"*.{rest}" in names:
        return f"*.{rest}"
    return None


def normalize_host(host: str) -> str:
    """The Host header without its port, lower-cased: what rules are compared against."""
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal [::1]:80
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_ours(ingress: dict, classes: list[dict], controller: str = CONTROLLER) -> bool:
    """Does an Ingress belong to this controller (see the module docstring)?"""
    ours = {
        c["metadata"]["name"]: c for c in classes if (c.get("spec") or {}).get("controller") == controller
    }
    meta = ingress.get("metadata") or {}
    name = (ingress.get("spec") or {}).get("ingressClassName") or (meta.get("annotations") or {}).get(
        LEGACY_CLASS_ANNOTATION
    )
    if name:
        return name in ours
    return any((c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
               for c in ours.values())


@dataclass
class RouteTable:
    """Every path of our Ingresses, grouped by host; `match(host, path)` answers one request."""

    exact_hosts: dict[str, list[Route]] = field(default_factory=dict)
    wildcard_hosts: dict[str, list[Route]] = field(default_factory=dict)  # key: ".example.com"
    any_host: list[Route] = field(default_factory=list)
    default: Backend | None = None
    default_ingress: str = ""

    @classmethod
    def build(cls, ingresses: list[dict]) -> RouteTable:
        table = cls()
        # Oldest first (then by name), so ties and the default backend do not depend on cache order.
        ordered = sorted(
            ingresses,
            key=lambda i: (i["metadata"].get("creationTimestamp") or "", i["metadata"].get("namespace", ""),
                           i["metadata"]["name"]),
        )
        for ing in ordered:
            ns, name = ing["metadata"].get("namespace", "default"), ing["metadata"]["name"]
            spec = ing.get("spec") or {}
            notes = ing["metadata"].get("annotations") or {}
            tls_hosts = {h for t in spec.get("tls") or [] for h in tls_entry_hosts(spec, t or {})}
            redirect = notes.get(SSL_REDIRECT_ANNOTATION, "true").lower() != "false"
            forced = notes.get(FORCE_SSL_REDIRECT_ANNOTATION, "false").lower() == "true"
            if table.default is None and spec.get("defaultBackend"):
                table.default = _backend(ns, spec["defaultBackend"])
                table.default_ingress = f"{ns}/{name}"
            for rule in spec.get("rules") or []:
                host = (rule.get("host") or "").lower()
                for p in (rule.get("http") or {}).get("paths") or []:
                    backend = _backend(ns, p.get("backend"))
                    if backend is None:
                        continue
                    ptype = p.get("pathType") or "ImplementationSpecific"
                    https_only = forced or (redirect and covering_name(host, tls_hosts) is not None)
                    route = Route(host, p.get("path") or "/", ptype, backend, f"{ns}/{name}", https_only)
                    if not host:
                        table.any_host.append(route)
                    elif host.startswith("*."):
                        table.wildcard_hosts.setdefault(host[1:], []).append(route)
                    else:
                        table.exact_hosts.setdefault(host, []).append(route)
        return table

    def group_for(self, host: str) -> list[Route]:
        host = normalize_host(host)
        if host in self.exact_hosts:
            return self.exact_hosts[host]
        first, dot, rest = host.partition(".")
        if first and dot and f".{rest}" in self.wildcard_hosts:
            return self.wildcard_hosts[f".{rest}"]
        return self.any_host

    def match(self, host: str, path: str) -> Match:
        best: Route | None = None
        for route in self.group_for(host):
            # strictly greater: among equals the first (oldest Ingress) keeps the path
            if route.matches(path) and (best is None or route.specificity() > best.specificity()):
                best = route
        if best is not None:
            return Match(best.backend, best, best.ingress)
        return Match(self.default, None, self.default_ingress)
