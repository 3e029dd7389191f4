import base64
import json
import os

import pytest

from integration.image.images_helper import layered_image
from minikube_py.image import ImageError
from minikube_py.image.hosts import write_mirror
from minikube_py.image.registry import Credentials
from minikube_py.image.store import ImageStore

pytestmark = pytest.mark.integration


@pytest.fixture
def other_store(tmp_path, store):
    """A second node's store sharing the first one's registry configuration."""
    return ImageStore(str(tmp_path / "mkpyt-img-node2"), hosts_dir=store.hosts_dir)


def test_push_pull_through_mirror_config_and_no_resend(store, other_store, registry):
    write_mirror(store.hosts_dir, "myregistry.com", registry.url)
    image = layered_image(store, "myregistry.com/multi:v1", layers=3)
    first = store.push("myregistry.com/multi:v1", progress=False)
    assert first.blobs_fetched == 5 and first.digest == image.digest      # 4 layers + config
    again = store.push("myregistry.com/multi:v1", progress=False)
    assert again.blobs_fetched == 0 and again.blobs_skipped == 5 and again.bytes_transferred == 0

    pulled = other_store.pull("myregistry.com/multi:v1", progress=False)
    assert pulled.digest == image.digest and pulled.id == image.id
    assert pulled.stats.blobs_fetched == 5 and pulled.stats.endpoint == registry.url
    for diff_id in pulled.diff_ids:                     # unpacked during the pull
        assert os.path.isdir(other_store.layer_path(diff_id))
    second = other_store.pull("myregistry.com/multi:v1", progress=False)
    assert second.stats.bytes_transferred == 0 and second.stats.blobs_skipped == 5
    # by digest, too
    assert other_store.pull(f"myregistry.com/multi@{image.digest}", progress=False).digest == image.digest


def test_chunked_upload(store, other_store, registry):
    write_mirror(store.hosts_dir, "myregistry.com", registry.url)
    image = layered_image(store, "myregistry.com/big:v1", layers=1, size=3 * 1024 * 1024)
    stats = store.push("myregistry.com/big:v1", chunk_size=1024 * 1024, progress=False)
    assert stats.blobs_fetched == 3
    assert other_store.pull("myregistry.com/big:v1", progress=False).digest == image.digest


def test_unknown_tag_repo_and_unreachable(store, registry):
    write_mirror(store.hosts_dir, "myregistry.com", registry.url)
    store.tag("busybox", "myregistry.com/bb:v1")
    store.push("myregistry.com/bb:v1", progress=False)
    with pytest.raises(ImageError) as err:
        store.pull("myregistry.com/bb:nope", progress=False)
    assert err.value.reason == "NotFound" and "MANIFEST_UNKNOWN" in str(err.value)
    assert "myregistry.com/bb:nope" in str(err.value)
    with pytest.raises(ImageError) as err:
        store.pull("myregistry.com/nothing:v1", progress=False)
    assert err.value.reason == "NotFound" and "unknown" in str(err.value)
    write_mirror(store.hosts_dir, "down.example", "http://127.0.0.1:1")
    with pytest.raises(ImageError) as err:
        store.pull("down.example/x:v1", progress=False)
    assert err.value.reason == "Unreachable" and "127.0.0.1:1" in str(err.value)


def test_digest_mismatch_leaves_nothing_trusted(store, other_store, registry):
    write_mirror(store.hosts_dir, "myregistry.com", registry.url)
    image = layered_image(store, "myregistry.com/bad:v1", layers=2)
    store.push("myregistry.com/bad:v1", progress=False)
    victim = image.layers[-1]["digest"]
    with open(registry.blob_path(victim), "r+b") as f:      # bit rot on the registry's disk
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ImageError) as err:
        other_store.pull("myregistry.com/bad:v1", progress=False)
    assert err.value.reason == "DigestMismatch" and victim in str(err.value)
    assert not other_store.exists("myregistry.com/bad:v1")
    assert not other_store.blobs.has(victim) and os.listdir(other_store.blobs.ingest_dir) == []
    assert not any(n.startswith(".unpack-") for n in os.listdir(other_store.layers_dir))


def test_https_with_a_ca_file(store, other_store, make_registry):
    reg = make_registry(tls=True)
    write_mirror(store.hosts_dir, "myregistry.com", reg.url)
    store.tag("busybox", "myregistry.com/bb:tls")
    with pytest.raises(ImageError) as err:
        store.push("myregistry.com/bb:tls", progress=False)
    assert err.value.reason == "Unreachable" and "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    write_mirror(store.hosts_dir, "myregistry.com", reg.url, ca=reg.ca)
    store.push("myregistry.com/bb:tls", progress=False)
    assert other_store.pull("myregistry.com/bb:tls", progress=False).digest == store.resolve("busybox").digest


def test_basic_auth_with_htpasswd(store, make_registry, tmp_path):
    reg = make_registry(auth="htpasswd")
    write_mirror(store.hosts_dir, "myregistry.com", reg.url)
    store.tag("busybox", "myregistry.com/bb:auth")
    with pytest.raises(ImageError) as err:
        store.push("myregistry.com/bb:auth", progress=False)
    assert err.value.reason == "Unauthorized" and "--creds" in str(err.value)
    with pytest.raises(ImageError) as err:
        store.push("myregistry.com/bb:auth", creds=Credentials("mkpyt", "wrong"), progress=False)
    assert err.value.reason == "Unauthorized"
    store.push("myregistry.com/bb:auth", creds=Credentials("mkpyt", "s3cret"), progress=False)
    # credentials from the docker-style auth file of the node
    auth = {"auths": {"myregistry.com": {"auth": base64.b64encode(b"mkpyt:s3cret").decode()}}}
    with open(os.path.join(store.root, "auth.json"), "w") as f:
        json.dump(auth, f)
    store.remove("myregistry.com/bb:auth")
    assert store.pull("myregistry.com/bb:auth", progress=False).digest == store.resolve("busybox").digest


def test_bearer_token_flow(store, other_store, make_registry):
    reg = make_registry(auth="token")
    write_mirror(store.hosts_dir, "myregistry.com", reg.url)
    store.tag("busybox", "myregistry.com/team/bb:tok")
    with pytest.raises(ImageError) as err:
        store.push("myregistry.com/team/bb:tok", progress=False)
    assert err.value.reason == "Unauthorized"
    creds = Credentials("mkpyt", "s3cret")
    store.push("myregistry.com/team/bb:tok", creds=creds, progress=False)
    pulled = other_store.pull("myregistry.com/team/bb:tok", creds=creds, progress=False)
    assert pulled.digest == store.resolve("busybox").digest
    scopes = {r.get("scope") for r in reg.token_server.requests if r["user"] == "mkpyt"}
    assert {"repository:team/bb:pull,push", "repository:team/bb:pull"} <= scopes
    assert all(r.get("service") == "mkpyt-registry" for r in reg.token_server.requests)


class _CuttingProxy:
    """Forwards to the registry but hangs up halfway through one blob: a pull interrupted mid-layer."""

    def __init__(self, upstream: str, victim: str) -> None:
        import http.server
        import threading
        import urllib.request

        proxy = self
        self.cut = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                req = urllib.request.Request(upstream + self.path, headers={
                    k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization")})
                with urllib.request.urlopen(req) as resp:
                    body = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.headers.items():
                        if k.lower() not in ("transfer-encoding", "connection"):
                            self.send_header(k, v)
                    self.end_headers()
                if self.path.endswith(victim):
                    proxy.cut += 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_interrupted_pull_leaves_nothing_a_later_run_trusts(store, other_store, registry):
    write_mirror(store.hosts_dir, "myregistry.com", registry.url)
    image = layered_image(store, "myregistry.com/cut:v1", layers=2, size=512 * 1024)
    store.push("myregistry.com/cut:v1", progress=False)
    victim = image.layers[-1]["digest"]
    proxy = _CuttingProxy(registry.url, victim)
    try:
        write_mirror(store.hosts_dir, "myregistry.com", proxy.url)
        with pytest.raises(ImageError) as err:
            other_store.pull("myregistry.com/cut:v1", progress=False)
    finally:
        proxy.stop()
    assert proxy.cut == 1 and err.value.reason == "Unreachable" and victim in str(err.value)
    assert not other_store.exists("myregistry.com/cut:v1") and not other_store.blobs.has(victim)
    assert os.listdir(other_store.blobs.ingest_dir) == []
    # The next pull (registry reachable again) completes and fetches only what was missing.
    write_mirror(store.hosts_dir, "myregistry.com", registry.url)
    again = other_store.pull("myregistry.com/cut:v1", progress=True)
    assert again.digest == image.digest and again.stats.blobs_fetched >= 1


def test_mirror_first_then_server(store, other_store, make_registry):
    mirror, server = make_registry(), make_registry()
    write_mirror(store.hosts_dir, "myregistry.com", server.url)
    store.tag("busybox", "myregistry.com/bb:v1")
    store.push("myregistry.com/bb:v1", progress=False)
    path = os.path.join(store.hosts_dir, "myregistry.com", "hosts.toml")
    with open(path, "w") as f:
        f.write(f'server = "{server.url}"\n[host."{mirror.url}"]\n  capabilities = ["pull", "resolve"]\n')
    # The mirror lacks the image: the pull falls through to the server, as containerd does.
    assert other_store.pull("myregistry.com/bb:v1", progress=False).stats.endpoint == server.url
    # Once the mirror has it, pulls are served by the mirror.
    with open(path, "w") as f:
        f.write(f'server = "{mirror.url}"\n')
    store.push("myregistry.com/bb:v1", progress=False)
    with open(path, "w") as f:
        f.write(f'server = "{server.url}"\n[host."{mirror.url}"]\n  capabilities = ["pull", "resolve"]\n')
    other_store.remove("myregistry.com/bb:v1")
    assert other_store.pull("myregistry.com/bb:v1", progress=False).stats.endpoint == mirror.url


def test_index_in_the_registry_resolves_to_this_platform(store, other_store, registry):
    from minikube_py.image.digest import OCI_INDEX, OCI_MANIFEST, canonical_json, sha256
    from minikube_py.image.hosts import Endpoint
    from minikube_py.image.registry import Session

    write_mirror(store.hosts_dir, "myregistry.com", registry.url)
    store.tag("busybox", "myregistry.com/multi:amd64")
    store.push("myregistry.com/multi:amd64", progress=False)
    amd = store.resolve("busybox")
    # Another platform's manifest: same layers, a config that says arm64.
    arm_cfg = canonical_json({**amd.image_config, "architecture": "arm64"})
    arm = canonical_json({**amd.manifest, "config": {**amd.manifest["config"], "digest": sha256(arm_cfg),
                                                     "size": len(arm_cfg)}})
    index = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(arm), "size": len(arm),
         "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": OCI_MANIFEST, "digest": amd.digest, "size": len(store.blobs.read(amd.digest)),
         "platform": {"os": "linux", "architecture": "amd64"}}]})
    s = Session(Endpoint(registry.url), "multi", None, "pull,push")
    with s.request("POST", "/v2/multi/blobs/uploads/", {"Content-Length": "0"}, b"") as resp:
        location = s.url(resp.headers["Location"])
    s.request("PUT", f"{location}&digest={sha256(arm_cfg)}", {"Content-Type": "application/octet-stream"},
              arm_cfg).close()
    s.request("PUT", f"/v2/multi/manifests/{sha256(arm)}", {"Content-Type": OCI_MANIFEST}, arm).close()
    s.request("PUT", "/v2/multi/manifests/v1", {"Content-Type": OCI_INDEX}, index).close()

    pulled = other_store.pull("myregistry.com/multi:v1", progress=False)
    assert pulled.digest == amd.digest and pulled.image_config["architecture"] == "amd64"
    assert not other_store.blobs.has(sha256(arm_cfg)) and not other_store.blobs.has(sha256(index))
