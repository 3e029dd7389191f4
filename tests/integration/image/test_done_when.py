"""The guide's first step, for real: build, push, remove, pull back, run, answer on port 3000."""

import json
import os
import subprocess
import sys
import time

import pytest

from integration.image.runner import Container
from minikube_py.image.hosts import write_mirror
from minikube_py.image.store import ImageStore

pytestmark = pytest.mark.integration


def mkpy(root: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minikube_py.cli.main", "image", "--root", root, *args],
                          capture_output=True, text=True, timeout=120)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_build_push_rm_pull_run(tmp_path, registry, seed_app, repo_root):
    root = str(tmp_path / "mkpyt-img-node")
    subprocess.run([str(repo_root / "rootfs" / "build.sh"), "--root", root], check=True, capture_output=True,
                   env={**os.environ, "MKPY_PYTHON": sys.executable})
    write_mirror(os.path.join(root, "certs.d"), "myregistry.com", registry.url)

    out = ok(mkpy(root, "build", "-t", "myregistry.com/myapp:v1.0", seed_app))
    assert "Successfully tagged myregistry.com/myapp:v1.0" in out
    built = json.loads(ok(mkpy(root, "inspect", "myregistry.com/myapp:v1.0")))[0]
    assert "CACHED" in ok(mkpy(root, "build", "-t", "myregistry.com/myapp:v1.0", seed_app))

    out = ok(mkpy(root, "push", "myregistry.com/myapp:v1.0"))
    assert built["Digest"] in out
    out = ok(mkpy(root, "rm", "myregistry.com/myapp:v1.0"))
    assert "Untagged: myregistry.com/myapp:v1.0" in out and f"Deleted: {built['Digest']}" in out
    assert "myregistry.com/myapp" not in ok(mkpy(root, "ls"))

    out = ok(mkpy(root, "pull", "myregistry.com/myapp:v1.0"))
    assert built["Digest"] in out
    pulled = json.loads(ok(mkpy(root, "inspect", "myregistry.com/myapp:v1.0")))[0]
    for key in ("Digest", "Id", "Layers"):
        assert pulled[key] == built[key]
    listing = ok(mkpy(root, "ls")).splitlines()
    assert listing[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.split()[:3] == ["myregistry.com/myapp", "v1.0", built["Id"][7:19]] for line in listing)

    store = ImageStore(root)
    with Container(store, "myregistry.com/myapp:v1.0", str(tmp_path), "mkpyt-img-myapp") as c:
        deadline = time.monotonic() + 15
        while True:
            got = c.client.exec(c.cid, ["wget", "-qO-", "http://127.0.0.1:3000/"])
            if got.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert got.returncode == 0, got.stderr
        assert got.stdout == "hello from mkpyt-img-pod\n"
