"""Off loopback: HTTPS only, a token on every request; joining trades a bootstrap token for a node's own."""

from __future__ import annotations

import http.client
import ssl
import subprocess

import pytest

from minikube_py.api import auth
from minikube_py.api.client import Client
from minikube_py.api.errors import ApiError
from minikube_py.api.server import ApiServer
from minikube_py.multinode import join as joining
from minikube_py.multinode import tokens

pytestmark = pytest.mark.integration


def admin(api) -> Client:
    return Client(api.url, token=api.token, ca_file=api.ca_file)


def status_of(api, path: str, token: str | None = None) -> int:
    c = Client(api.url, token=token, ca_file=api.ca_file)
    try:
        c.request("GET", path)
        return 200
    except ApiError as e:
        return e.code
    finally:
        c.close()


def test_off_loopback_listener_needs_tls_at_start():
    with pytest.raises(ValueError, match=r"listen: 127\.0\.0\.2:0 is off loopback"):
        ApiServer("sqlite:///nonexistent/never-opened.db", listen="127.0.0.2:0")


def test_plain_http_gets_no_api_answer_off_loopback(secure_api):
    conn = http.client.HTTPConnection("127.0.0.2", secure_api.server.port, timeout=5)
    try:
        conn.request("GET", "/api/v1/namespaces", headers={"Authorization": f"Bearer {secure_api.token}"})
        resp = conn.getresponse()
        body = resp.read()
        # TLS servers answer a plain request with a 400 at most, never with the API
        assert resp.status == 400 and b"NamespaceList" not in body
    except (TimeoutError, ConnectionError, http.client.HTTPException):
        pass  # the TLS server hung up on plain HTTP: also a refusal
    finally:
        conn.close()


def test_tls_is_verified_with_the_cluster_ca_and_names_the_address(secure_api):
    with pytest.raises(ssl.SSLCertVerificationError):
        Client(secure_api.url, token=secure_api.token).version()  # system CAs do not know ours
    assert admin(secure_api).list("namespaces")["kind"] == "NamespaceList"


def test_every_non_public_request_needs_a_valid_token(secure_api):
    assert status_of(secure_api, "/api/v1/namespaces") == 401
    assert status_of(secure_api, "/api/v1/namespaces", "not-a-token") == 401
    assert status_of(secure_api, "/api/v1/namespaces", "abcdef.0123456789abcdef") == 401
    assert status_of(secure_api, "/healthz") == 200
    assert status_of(secure_api, "/mkpy/cluster-info") == 200


def test_ca_hash_matches_openssl(secure_api):
    pub = subprocess.run(
        ["openssl", "x509", "-pubkey", "-noout", "-in", secure_api.ca_file], capture_output=True, check=True
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, capture_output=True, check=True
    ).stdout
    digest = subprocess.run(["sha256sum"], input=der, capture_output=True, check=True).stdout.split()[0]
    assert auth.ca_cert_hash(secure_api.ca_pem) == "sha256:" + digest.decode()


def test_join_exchanges_a_bootstrap_token_for_a_node_credential(secure_api, tmp_path):
    c = admin(secure_api)
    token = tokens.create_token(c, ttl_seconds=600, description="mkpyt-mn")
    assert [t["id"] for t in tokens.list_tokens(c)] == [token.split(".")[0]]
    secret = c.get("secrets", "bootstrap-token-" + token.split(".")[0], "kube-system")
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    ca_hash = auth.ca_cert_hash(secure_api.ca_pem)

    # the bootstrap token alone opens only the join door
    assert status_of(secure_api, "/api/v1/nodes", token) == 403

    with pytest.raises(joining.JoinError, match="--ca-cert-hash"):
        joining.join(secure_api.url, token, "sha256:" + "0" * 64, "w1", str(tmp_path / "x.kubeconfig"))
    with pytest.raises(joining.JoinError, match="--token"):
        joining.join(secure_api.url, "nope", ca_hash, "w1", str(tmp_path / "x.kubeconfig"))
    with pytest.raises(joining.JoinError, match="nodeName"):
        joining.join(secure_api.url, token, ca_hash, "Bad_Name", str(tmp_path / "x.kubeconfig"))

    kc = joining.join(secure_api.url, token, ca_hash, "w1", str(tmp_path / "w1.kubeconfig"))
    node = Client.from_kubeconfig(kc)
    node.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "w1"}})
    assert [n["metadata"]["name"] for n in node.list("nodes")["items"]] == ["w1"]
    with pytest.raises(ApiError) as e:
        node.list("secrets", "kube-system")
    assert e.value.code == 403
    old_token = node.token

    # joining again (a reinstalled machine) revokes the previous credential
    joining.join(secure_api.url, token, ca_hash, "w1", str(tmp_path / "w1b.kubeconfig"))
    assert status_of(secure_api, "/api/v1/nodes", old_token) == 401
    assert (
        status_of(secure_api, "/api/v1/nodes", Client.from_kubeconfig(str(tmp_path / "w1b.kubeconfig")).token)
        == 200
    )

    tokens.delete_token(c, token)
    with pytest.raises(joining.JoinError, match="Unauthorized"):
        joining.join(secure_api.url, token, ca_hash, "w2", str(tmp_path / "w2.kubeconfig"))


def test_an_expired_bootstrap_token_is_refused(secure_api):
    c = admin(secure_api)
    token = auth.new_token()
    secret = auth.bootstrap_token_secret(token, ttl_seconds=600)
    secret["data"]["expiration"] = auth._b64s("2020-01-01T00:00:00Z")
    c.create(secret, namespace="kube-system")
    assert status_of(secure_api, "/api/v1/nodes", token) == 401


def test_token_cli_prints_a_join_command_that_joins(secure_api, tmp_path):
    from click.testing import CliRunner

    from minikube_py.cli.main import cli

    kc = auth.write_kubeconfig(
        str(tmp_path / "admin.kubeconfig"), secure_api.url, secure_api.token, secure_api.ca_file
    )
    out = CliRunner().invoke(
        cli, ["token", "create", "--kubeconfig", kc, "--print-join-command", "--ca-file", secure_api.ca_file]
    )
    assert out.exit_code == 0, out.output
    words = out.output.split()
    assert words[:3] == ["mkpy", "node", "join"]
    args = dict(zip(words[3::2], words[4::2], strict=True))
    path = joining.join(args["--server"], args["--token"], args["--ca-cert-hash"], "w9", str(tmp_path / "w9"))
    assert Client.from_kubeconfig(path).list("namespaces")["items"]
    listed = CliRunner().invoke(cli, ["token", "list", "--kubeconfig", kc])
    assert args["--token"].split(".")[0] in listed.output
