"""`mkpy up` -> two Deployments (busybox httpd) + Services + Ingresses applied with the real kubectl
-> `kubectl get ingress` shows our ADDRESS -> HTTP requests from inside the node's network namespace
(made by curl, not by our code) reach the backend the Host header and path choose; unmatched
requests get 404, a Service without endpoints 503, an Ingress of another class is not served, and
HTTPS on 443 offers the Ingress's certificate for its host (SNI).
`mkpy down` at the end, and the leak check finds nothing left."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from waiting import wait_for

from integration.up.conftest import mkpy
from minikube_py.image import baseimage
from minikube_py.network.ingress.tls import self_signed

pytestmark = pytest.mark.integration
KUBECTL = "/usr/bin/kubectl"


def app(name: str) -> list[dict]:
    """A Deployment whose httpd answers 'hello from <pod name>' on / and /b/, and its Service."""
    script = ('mkdir -p /www/b && echo "hello from $HOSTNAME" | tee /www/index.html /www/b/index.html'
              ' >/dev/null && exec httpd -f -p 8080 -h /www')
    labels = {"app": name}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "terminationGracePeriodSeconds": 1,
                      "containers": [{"name": "web", "image": "busybox:latest", "imagePullPolicy": "Never",
                                      "command": ["sh", "-c", script]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{name}"},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
    ]


def path(p: str, ptype: str, svc: str) -> dict:
    return {"path": p, "pathType": ptype, "backend": {"service": {"name": svc, "port": {"number": 80}}}}


MANIFESTS = [
    *app("app-a"),
    *app("app-b"),
    # selects nothing: no endpoints, ever
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc-empty"},
     "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80, "targetPort": 8080}]}},
    # no ingressClassName: ours, because `mkpy up` made IngressClass mkpy the default
    # (plain HTTP stays served for a.example.com, as ingress-nginx's annotation asks)
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
     "metadata": {"name": "web", "annotations": {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}},
     "spec": {"tls": [{"hosts": ["a.example.com"], "secretName": "a-tls"}],
              "rules": [
         {"host": "a.example.com", "http": {"paths": [path("/", "Prefix", "svc-app-a")]}},
         {"host": "b.example.com", "http": {"paths": [path("/b", "Prefix", "svc-app-b"),
                                                     path("/empty", "Exact", "svc-empty")]}},
     ]}},
    # a TLS host with the default: plain HTTP is redirected to https://
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "secure"},
     "spec": {"tls": [{"hosts": ["s.example.com"], "secretName": "a-tls"}],
              "rules": [{"host": "s.example.com", "http": {"paths": [path("/", "Prefix", "svc-app-a")]}}]}},
    # another controller's class: we must neither serve it nor give it an address
    {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "mkpyt-ing-other"},
     "spec": {"controller": "example.com/other"}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "elsewhere"},
     "spec": {"ingressClassName": "mkpyt-ing-other",
              "rules": [{"host": "c.example.com", "http": {"paths": [path("/", "Prefix", "svc-app-a")]}}]}},
]


def kubectl(kc: str, *args: str, stdin: str | None = None) -> str:
    res = subprocess.run([KUBECTL, "--kubeconfig", kc, *args], input=stdin, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, f"kubectl {' '.join(args)}: {res.stderr}"
    return res.stdout


def curl(netns: str, ip: str, host: str, url_path: str) -> tuple[int, str]:
    """One request from the node's network namespace; (status, body)."""
    res = subprocess.run(["nsenter", f"--net={netns}", "curl", "-s", "-m", "5", "-H", f"Host: {host}",
                          "-w", "\n%{http_code}", f"http://{ip}{url_path}"],
                         capture_output=True, text=True, timeout=15)
    body, _, code = res.stdout.rpartition("\n")
    return int(code or 0), body.strip()


def https(netns: str, ca: Path, host: str, ip: str, url_path: str) -> subprocess.CompletedProcess:
    """curl https://host/... with host resolved to ip (SNI and verification use host), trusting ca."""
    return subprocess.run(["nsenter", f"--net={netns}", "curl", "-s", "-m", "5", "--cacert", str(ca),
                           "--resolve", f"{host}:443:{ip}", f"https://{host}{url_path}"],
                          capture_output=True, text=True, timeout=15)


def test_ingress_routes_by_host_and_path_on_a_real_node(ing_cluster_env, kubectl_120):
    env = ing_cluster_env
    if os.geteuid() != 0:
        pytest.skip("mkpy up needs root")
    kc, netns = env["MKPY_KUBECONFIG"], f"/run/netns/{env['MKPY_NODE_NETNS']}"
    assert baseimage.main(["--root", env["MKPY_STATE_ROOT"]]) == 0  # busybox in the node's store
    res = mkpy(env, "up")
    assert res.returncode == 0, res.stdout + res.stderr
    cfg = json.loads((Path(env["MKPY_RUN_ROOT"]) / "cluster.json").read_text())
    node_addr = str(next(ipaddress.ip_network(cfg["pod_cidr"]).hosts()))  # the bridge address

    # `mkpy up` made the default IngressClass (once the component is up)
    classes = wait_for("IngressClass mkpy", lambda: "mkpy.io/ingress" in kubectl(kc, "get", "ingressclass")
                       and kubectl(kc, "get", "ingressclass"), 60)
    header, *rows = classes.splitlines()
    assert header.split() == ["NAME", "CONTROLLER", "PARAMETERS", "AGE"]
    assert rows[0].split()[:3] == ["mkpy", "mkpy.io/ingress", "<none>"]

    # the certificate for a.example.com, as a kubernetes.io/tls Secret made by kubectl
    cert, key = self_signed("a.example.com", ["a.example.com"])
    tmp = Path(env["MKPY_TEST_ROOT"])
    (tmp / "a.crt").write_bytes(cert)
    (tmp / "a.key").write_bytes(key)
    kubectl(kc, "create", "secret", "tls", "a-tls", "--cert", str(tmp / "a.crt"), "--key", str(tmp / "a.key"))
    kubectl(kc, "apply", "-f", "-", stdin=yaml.safe_dump_all(MANIFESTS))

    def address(name: str) -> str:
        ing = json.loads(kubectl(kc, "get", "ingress", name, "-o", "json"))
        lb = (ing.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        return lb[0].get("ip", "") if lb else ""

    assert wait_for("ADDRESS of ingress web", lambda: address("web"), 60) == node_addr
    table = kubectl(kc, "get", "ingress")
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    by_name = {r.split()[0]: r.split() for r in rows}
    assert by_name["web"][:6] == ["web", "<none>", "a.example.com,b.example.com", node_addr, "80,", "443"]
    assert by_name["elsewhere"][:4] == ["elsewhere", "mkpyt-ing-other", "c.example.com", "80"]  # no ADDRESS
    # kubectl 1.20 (networking.k8s.io/v1 Ingress is GA since 1.19) prints the same table
    old = subprocess.run([kubectl_120, "--kubeconfig", kc, "get", "ingress"], capture_output=True, text=True,
                         timeout=60)
    assert old.returncode == 0, old.stderr
    # (all but AGE, the last column, which may have ticked over; ADDRESS can be empty)
    assert [r.split()[:-1] for r in old.stdout.splitlines()] == [r.split()[:-1] for r in table.splitlines()]
    ours = mkpy({**env, "KUBECONFIG": kc}, "get", "ingress,ingressclass")  # the same through mkpy
    assert ours.returncode == 0, ours.stderr
    # two kinds: names carry kind.group, as kubectl prints them
    assert any(line.split()[:6] == ["ingress.networking.k8s.io/web", "<none>", "a.example.com,b.example.com",
                                    node_addr, "80,", "443"]
               for line in ours.stdout.splitlines()), ours.stdout

    # The pods become ready: until then the controller answers 503 for their Services.
    def answer(host: str, p: str, want: str):
        code, body = curl(netns, node_addr, host, p)
        return (code, body) if code == 200 and body.startswith(f"hello from {want}-") else None

    wait_for("app-a behind a.example.com", lambda: answer("a.example.com", "/", "app-a"), 180)
    wait_for("app-b behind b.example.com/b/", lambda: answer("b.example.com", "/b/", "app-b"), 180)

    assert answer("A.EXAMPLE.COM:80", "/b/", "app-a")          # host, not path: a.example.com takes /b/ too
    # 404 from the controller's default backend, not from an httpd (which also answers 404 for /bx)
    not_found = (404, "404 page not found (mkpy ingress default backend)")
    assert curl(netns, node_addr, "b.example.com", "/") == not_found      # b's group has no path for /
    assert curl(netns, node_addr, "b.example.com", "/bx") == not_found    # /b matches elements, not text
    assert curl(netns, node_addr, "unknown.org", "/") == not_found        # no rule for this host
    assert curl(netns, node_addr, "c.example.com", "/") == not_found      # the other class: not ours
    code, body = curl(netns, node_addr, "b.example.com", "/empty")
    assert code == 503 and "no ready endpoints" in body
    code, body = curl(netns, node_addr, "s.example.com", "/x?y=1")
    assert (code, body) == (308, "308 Permanent Redirect: https://s.example.com/x?y=1")
    assert address("elsewhere") == ""

    # HTTPS: curl verifies our certificate for a.example.com (SNI) and reaches app-a
    # (polled: the Secret and the Ingress come through two watches, in either order)
    res = wait_for("HTTPS for a.example.com", lambda: (r := https(netns, tmp / "a.crt", "a.example.com",
                                                                  node_addr, "/")).returncode == 0 and r, 30)
    assert res.stdout.startswith("hello from app-a-"), res.stdout
    # b.example.com has no certificate: the fake one, which curl refuses (exit 60: peer cert)
    res = https(netns, tmp / "a.crt", "b.example.com", node_addr, "/b/")
    assert res.returncode == 60, (res.returncode, res.stdout, res.stderr)

    # `kubectl describe ingress` shows the rules and the controller's event
    described = kubectl(kc, "describe", "ingress", "web")
    assert "a.example.com" in described and "svc-app-a:80" in described, described
    assert "Serving on" in described and "Sync" in described, described

    # A student sees the routing decisions in the component's log.
    log = (Path(env["MKPY_LOG_DIR"]) / "ingress.log").read_text()
    assert "GET a.example.com/ -> ingress default/web -> default/svc-app-a:80" in log
    assert "GET b.example.com/empty -> ingress default/web -> default/svc-empty:80: 503" in log

    down = mkpy(env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
