"""Cross-checks with real tools: umoci and skopeo read what we write, we read what they write."""

import json
import os
import shutil
import stat
import subprocess

import pytest

from integration.image.runner import Container
from minikube_py.image import ImageError
from minikube_py.image.digest import OCI_INDEX, OCI_MANIFEST, canonical_json
from minikube_py.image.hosts import write_mirror
from minikube_py.image.store import ImageStore

pytestmark = pytest.mark.integration


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def test_image_modified_by_umoci_imports_and_runs(store, tmp_path):
    layout = str(tmp_path / "oci")
    store.export(["busybox:latest"], layout)
    (tmp_path / "motd").write_text("made by umoci\n")
    sh("umoci", "insert", "--image", f"{layout}:latest", str(tmp_path / "motd"), "/etc/motd")
    sh("umoci", "insert", "--image", f"{layout}:latest", "--whiteout", "/etc/hosts")
    sh("umoci", "config", "--image", f"{layout}:latest", "--config.cmd", "cat",
       "--config.cmd", "/etc/motd", "--config.workingdir", "/etc")
    fresh = ImageStore(str(tmp_path / "mkpyt-img-fresh"))
    (image,) = fresh.import_archive(layout, tag="umoci/bb:1")
    assert image.config["Cmd"] == ["cat", "/etc/motd"] and image.config["WorkingDir"] == "/etc"
    ov = fresh.prepare_rootfs("umoci/bb:1", "mkpyt-img-umoci")
    top = next(d for d in ov["lower"] if os.path.lexists(os.path.join(d, "etc", "hosts")))
    st = os.lstat(os.path.join(top, "etc", "hosts"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0          # umoci's whiteout -> overlay whiteout
    fresh.release_rootfs("mkpyt-img-umoci")
    with Container(fresh, "umoci/bb:1", str(tmp_path), "mkpyt-img-umoci",
                   argv=["sh", "-c", "cat /etc/motd; test -e /etc/hosts && echo visible || echo gone"]) as c:
        assert c.wait()["exitCode"] == 0
        assert c.output() == "made by umoci\ngone\n"


def test_export_is_read_by_skopeo_and_umoci(store, seed_app, tmp_path):
    image = store.build(seed_app, tags=["myregistry.com/myapp:v1.0"], out=lambda _: None)
    layout = str(tmp_path / "export")
    store.export(["myregistry.com/myapp:v1.0"], layout)
    info = json.loads(sh("skopeo", "inspect", f"oci:{layout}:v1.0"))
    assert info["Digest"] == image.digest and info["Layers"] == [d["digest"] for d in image.layers]
    sh("skopeo", "copy", f"oci:{layout}:v1.0", f"dir:{tmp_path / 'copied'}")
    assert (tmp_path / "copied" / "manifest.json").exists()
    bundle = str(tmp_path / "bundle")
    sh("umoci", "unpack", "--image", f"{layout}:v1.0", bundle)
    assert (tmp_path / "bundle" / "rootfs" / "app" / "index.sh").read_text().startswith("#!/bin/sh")
    tarball = str(tmp_path / "export.tar")
    store.export(["myregistry.com/myapp:v1.0"], tarball)
    assert json.loads(sh("skopeo", "inspect", f"oci-archive:{tarball}:v1.0"))["Digest"] == image.digest
    # ... and our own import of our export gives the same image back
    again = ImageStore(str(tmp_path / "mkpyt-img-again"))
    (back,) = again.import_archive(tarball)
    assert back.digest == image.digest and back.tags == ["myregistry.com/myapp:v1.0"]


def test_push_is_read_by_skopeo(store, registry, tmp_path):
    write_mirror(store.hosts_dir, "myregistry.com", registry.url)
    store.tag("busybox", "myregistry.com/bb:v1")
    store.push("myregistry.com/bb:v1", progress=False)
    info = json.loads(sh("skopeo", "inspect", "--tls-verify=false", f"docker://{registry.host}/bb:v1"))
    assert info["Digest"] == store.resolve("busybox").digest
    sh("skopeo", "copy", "--src-tls-verify=false", f"docker://{registry.host}/bb:v1",
       f"oci:{tmp_path / 'o'}:x")
    assert json.loads(sh("skopeo", "inspect", f"oci:{tmp_path / 'o'}:x"))["Digest"] == info["Digest"]


def test_docker_save_archive_from_skopeo_imports(store, tmp_path):
    layout = str(tmp_path / "oci")
    store.export(["busybox:latest"], layout)
    archive = str(tmp_path / "saved.tar")
    sh("skopeo", "copy", f"oci:{layout}:latest", f"docker-archive:{archive}:saved/busybox:v9")
    fresh = ImageStore(str(tmp_path / "mkpyt-img-docker"))
    (image,) = fresh.import_archive(archive)
    assert image.tags == ["docker.io/saved/busybox:v9"]
    assert image.diff_ids == store.resolve("busybox").diff_ids      # same content, uncompressed layers
    import tarfile

    with tarfile.open(archive) as tar:
        saved = json.load(tar.extractfile("manifest.json"))
    assert image.id == "sha256:" + saved[0]["Config"].removesuffix(".json")   # docker's image id kept
    lower = fresh.prepare_rootfs("saved/busybox:v9", "mkpyt-img-d")["lower"]
    assert os.readlink(os.path.join(lower[0], "bin", "sh")) == "/bin/busybox"
    fresh.release_rootfs("mkpyt-img-d")


def _fake_arm64(store) -> tuple[bytes, bytes]:
    """A manifest for another architecture (same layers, config says arm64)."""
    base = store.resolve("busybox")
    cfg = dict(base.image_config, architecture="arm64")
    cfg_bytes = canonical_json(cfg)
    manifest = dict(base.manifest, config={**base.manifest["config"], "digest": store.blobs.put(cfg_bytes),
                                           "size": len(cfg_bytes)})
    return canonical_json(manifest), cfg_bytes


def test_index_resolves_to_host_platform(store, tmp_path):
    layout = tmp_path / "multi"
    store.export(["busybox:latest"], str(layout))
    arm_manifest, arm_cfg = _fake_arm64(store)
    blobs = layout / "blobs" / "sha256"
    for data in (arm_manifest, arm_cfg):
        from minikube_py.image.digest import sha256

        (blobs / sha256(data)[7:]).write_bytes(data)
    amd = json.loads((layout / "index.json").read_text())["manifests"][0]
    from minikube_py.image.digest import sha256

    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(arm_manifest), "size": len(arm_manifest),
         "platform": {"os": "linux", "architecture": "arm64"}},
        {**amd, "annotations": {}}]}
    index_bytes = canonical_json(index)
    (blobs / sha256(index_bytes)[7:]).write_bytes(index_bytes)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_INDEX, "digest": sha256(index_bytes), "size": len(index_bytes),
         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
    fresh = ImageStore(str(tmp_path / "mkpyt-img-multi"))
    (image,) = fresh.import_archive(str(layout), tag="multi:1")
    assert image.digest == amd["digest"] and image.image_config["architecture"] == "amd64"
    # an index with only a foreign platform is refused with a reason
    index["manifests"] = index["manifests"][:1]
    only_arm = canonical_json(index)
    (blobs / sha256(only_arm)[7:]).write_bytes(only_arm)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_INDEX, "digest": sha256(only_arm), "size": len(only_arm)}]}))
    with pytest.raises(ImageError, match="no manifest for linux/amd64"):
        ImageStore(str(tmp_path / "mkpyt-img-arm")).import_archive(str(layout))
    shutil.rmtree(layout)
