"""The route table: host groups, path matching and precedence (pure, no network)."""

from __future__ import annotations

import pytest

from minikube_py.network.ingress.routing import Backend, RouteTable, is_ours, normalize_host


def path(p: str, ptype: str, svc: str, port: int | str = 80) -> dict:
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"path": p, "pathType": ptype, "backend": {"service": {"name": svc, "port": ref}}}


def ing(name: str, rules: list[dict], default: str | None = None, created: str = "2026-01-01T00:00:00Z",
        ns: str = "default", cls: str | None = None) -> dict:
    spec: dict = {"rules": rules}
    if default:
        spec["defaultBackend"] = {"service": {"name": default, "port": {"number": 80}}}
    if cls:
        spec["ingressClassName"] = cls
    return {"metadata": {"name": name, "namespace": ns, "creationTimestamp": created}, "spec": spec}


def rule(host: str | None, *paths: dict) -> dict:
    r: dict = {"http": {"paths": list(paths)}}
    if host:
        r["host"] = host
    return r


def svc_for(table: RouteTable, host: str, p: str) -> str | None:
    m = table.match(host, p)
    return m.backend.service if m.backend else None


@pytest.mark.parametrize(("rule_path", "request_path", "hit"), [
    ("/foo", "/foo", True),
    ("/foo", "/foo/", True),
    ("/foo", "/foo/bar", True),
    ("/foo", "/foobar", False),     # element-wise: not a string prefix
    ("/foo/", "/foo", True),        # a trailing slash in the rule is ignored
    ("/foo/bar", "/foo", False),
    ("/", "/anything/at/all", True),
    ("/aaa/bb", "/aaa/bbb", False),
    ("/aaa/bbb", "/aaa/bbb/", True),
])
def test_prefix_matches_whole_path_elements(rule_path, request_path, hit):
    table = RouteTable.build([ing("i", [rule(None, path(rule_path, "Prefix", "s"))])])
    assert (svc_for(table, "x", request_path) == "s") is hit


def test_exact_matches_only_the_same_path():
    table = RouteTable.build([ing("i", [rule(None, path("/foo", "Exact", "s"))])])
    assert svc_for(table, "x", "/foo") == "s"
    assert svc_for(table, "x", "/foo/") is None
    assert svc_for(table, "x", "/foo/bar") is None


def test_longest_prefix_wins_and_exact_beats_prefix_of_same_length():
    table = RouteTable.build([ing("i", [rule(
        "a.example.com",
        path("/", "Prefix", "root"),
        path("/api", "Prefix", "api"),
        path("/api/v2", "Prefix", "v2"),
        path("/api", "Exact", "api-exact"),
    )])])
    assert svc_for(table, "a.example.com", "/api") == "api-exact"
    assert svc_for(table, "a.example.com", "/api/x") == "api"
    assert svc_for(table, "a.example.com", "/api/v2/users") == "v2"
    assert svc_for(table, "a.example.com", "/apix") == "root"


def test_implementation_specific_is_treated_as_prefix():
    table = RouteTable.build([ing("i", [rule(None, path("/img", "ImplementationSpecific", "img"))])])
    assert svc_for(table, "h", "/img/a.png") == "img"
    assert svc_for(table, "h", "/imgs") is None


def test_exact_host_then_wildcard_then_any_host():
    table = RouteTable.build([ing("i", [
        rule("a.example.com", path("/", "Prefix", "exact")),
        rule("*.example.com", path("/", "Prefix", "wild")),
        rule(None, path("/", "Prefix", "any")),
    ])])
    assert svc_for(table, "a.example.com", "/") == "exact"
    assert svc_for(table, "A.Example.COM:8080", "/") == "exact"   # case and port do not matter
    assert svc_for(table, "b.example.com", "/") == "wild"
    assert svc_for(table, "x.b.example.com", "/") == "any"       # a wildcard covers one label only
    assert svc_for(table, "example.com", "/") == "any"
    assert svc_for(table, "other.org", "/") == "any"


def test_a_host_group_does_not_fall_through_to_another():
    # Like an nginx server block: a.example.com is chosen by host; its paths do not cover /x.
    table = RouteTable.build([ing("i", [
        rule("a.example.com", path("/only", "Exact", "a")),
        rule(None, path("/", "Prefix", "any")),
    ])])
    assert svc_for(table, "a.example.com", "/x") is None
    assert svc_for(table, "b.example.com", "/x") == "any"


def test_paths_of_several_ingresses_merge_and_the_oldest_wins_a_tie():
    older = ing("old", [rule("h", path("/p", "Prefix", "from-old"))], created="2026-01-01T00:00:00Z")
    newer = ing("new", [rule("h", path("/p", "Prefix", "from-new"), path("/q", "Prefix", "q"))],
                created="2026-01-02T00:00:00Z")
    for order in ([older, newer], [newer, older]):
        table = RouteTable.build(order)
        assert svc_for(table, "h", "/p") == "from-old"
        assert svc_for(table, "h", "/q") == "q"
        assert table.match("h", "/q").ingress == "default/new"


def test_default_backend_and_nothing():
    table = RouteTable.build([ing("i", [rule("h", path("/a", "Exact", "a"))], default="fallback")])
    m = table.match("h", "/b")
    assert m.backend == Backend("default", "fallback", 80) and m.route is None
    no_default = RouteTable.build([ing("i", [rule("h", path("/a", "Exact", "a"))])])
    assert no_default.match("h", "/b").backend is None


def test_backend_port_by_name_and_namespace():
    table = RouteTable.build([ing("i", [rule(None, path("/", "Prefix", "s", "http"))], ns="shop")])
    assert table.match("h", "/").backend == Backend("shop", "s", "http")


def test_tls_hosts_answer_plain_http_with_a_redirect_unless_the_annotation_says_no():
    paths = [path("/", "Prefix", "s")]
    hosts = ("a.example.com", "b.shop.test", "x.y.shop.test", "plain.example.com", None)
    secure = ing("secure", [rule(h, *paths) for h in hosts])
    secure["spec"]["tls"] = [{"hosts": ["a.example.com", "*.shop.test"], "secretName": "s"}]
    table = RouteTable.build([secure])
    redirected = {h: table.match(h, "/").route.https_only
                  for h in ("a.example.com", "b.shop.test", "x.y.shop.test", "plain.example.com", "other")}
    # a wildcard certificate covers one label; a rule without a host has no certificate to redirect to
    assert redirected == {"a.example.com": True, "b.shop.test": True, "x.y.shop.test": False,
                          "plain.example.com": False, "other": False}

    no_hosts = ing("nohosts", [rule("c.example.com", *paths)])
    no_hosts["spec"]["tls"] = [{"secretName": "s"}]  # covers the Ingress's own rule hosts
    assert RouteTable.build([no_hosts]).match("c.example.com", "/").route.https_only

    off = ing("off", [rule("a.example.com", *paths)])
    off["spec"]["tls"] = [{"hosts": ["a.example.com"], "secretName": "s"}]
    off["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}
    assert not RouteTable.build([off]).match("a.example.com", "/").route.https_only

    forced = ing("forced", [rule("p.example.com", *paths)])
    forced["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}
    assert RouteTable.build([forced]).match("p.example.com", "/").route.https_only


def test_normalize_host():
    assert normalize_host("Foo.Example.com:8443") == "foo.example.com"
    assert normalize_host("[::1]:80") == "[::1]"
    assert normalize_host("10.244.0.1") == "10.244.0.1"


def cls(name: str, controller: str = "mkpy.io/ingress", default: bool = False) -> dict:
    ann = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": ann}, "spec": {"controller": controller}}


def test_which_ingresses_are_ours():
    named = ing("a", [], cls="mkpy")
    other = ing("b", [], cls="nginx")
    unnamed = ing("c", [])
    legacy = ing("d", [])
    legacy["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "mkpy"}
    classes = [cls("mkpy"), cls("nginx", "k8s.io/ingress-nginx")]
    assert is_ours(named, classes) and is_ours(legacy, classes)
    assert not is_ours(other, classes)
    assert not is_ours(unnamed, classes)            # no default class: nobody's
    assert is_ours(unnamed, [cls("mkpy", default=True)])
    assert not is_ours(unnamed, [cls("mkpy"), cls("nginx", "k8s.io/ingress-nginx", default=True)])
    assert not is_ours(named, [])                   # the class must exist and be ours


def test_routes_command_prints_the_table(tmp_path):
    from click.testing import CliRunner

    from minikube_py.network.ingress.cli import ingress as ingress_cli

    f = tmp_path / "ing.yaml"
    f.write_text("""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  rules:
  - host: a.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: svc-a, port: {number: 80}}}}
      - {path: /api, pathType: Exact, backend: {service: {name: api, port: {name: http}}}}
""")
    res = CliRunner().invoke(ingress_cli, ["routes", str(f)])
    assert res.exit_code == 0, res.output
    lines = [line.split() for line in res.output.splitlines()]
    assert lines == [
        ["a.example.com", "Exact", "/api", "->", "default/api:http", "(default/web)"],   # most specific first
        ["a.example.com", "Prefix", "/", "->", "default/svc-a:80", "(default/web)"],
        ["(default", "backend)", "->", "default/fallback:80", "(default/web)"],
    ]
