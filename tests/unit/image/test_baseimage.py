import json
import os
import subprocess
import sys

from minikube_py.image import baseimage
from minikube_py.image.store import ImageStore


def test_two_builds_give_the_same_digest(tmp_path, busybox_layout):
    again = tmp_path / "again"
    digest = baseimage.build_layout(str(again))
    with open(os.path.join(busybox_layout, "index.json")) as f:
        assert json.load(f)["manifests"][0]["digest"] == digest
    assert sorted(os.listdir(again / "blobs" / "sha256")) == sorted(
        os.listdir(os.path.join(busybox_layout, "blobs", "sha256")))


def test_rootfs_has_applets_and_etc(store):
    image = store.resolve("busybox")
    assert image.config["Cmd"] == ["sh"] and any(e.startswith("PATH=") for e in image.config["Env"])
    (layer,) = store.unpack(image)
    assert os.readlink(os.path.join(layer, "bin", "sh")) == "/bin/busybox"
    assert os.path.lexists(os.path.join(layer, "usr", "sbin", "httpd"))
    for name in ("passwd", "group", "hosts", "nsswitch.conf"):
        assert os.path.getsize(os.path.join(layer, "etc", name)) > 0
    assert open(os.path.join(layer, "etc", "passwd")).read().startswith("root:x:0:0:")
    assert oct(os.stat(os.path.join(layer, "tmp")).st_mode & 0o7777) == "0o1777"


def test_pause_image_shares_the_busybox_layer(store):
    pause, busybox = store.resolve("registry.k8s.io/pause:3.9"), store.resolve("busybox")
    assert pause.config["Entrypoint"] == ["/bin/sleep", "infinity"]
    assert pause.layers == busybox.layers and pause.id != busybox.id


def test_build_sh_imports_idempotently_with_root_option(tmp_path, repo_root):
    root = tmp_path / "mkpyt-img-node"
    cmd = [str(repo_root / "rootfs" / "build.sh"), "--root", str(root)]
    env = {**os.environ, "MKPY_PYTHON": sys.executable}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    assert "(imported)" in first and "(unchanged)" in second
    assert first.split()[1] == second.split()[1]
    # MKPY_ROOT works as well as --root
    other = tmp_path / "mkpyt-img-env"
    subprocess.run(cmd[:1], env={**env, "MKPY_ROOT": str(other)}, check=True, capture_output=True)
    assert ImageStore(str(other)).resolve("busybox:latest").digest == first.split()[1]
