"""`mkpy image ...` as a user runs it (a subprocess of this checkout)."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def mkpy(root: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minikube_py.cli.main", "image", "--root", root, *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_ls_tag_rm_prune_import_export(store, seed_app, tmp_path):
    root = store.root
    assert mkpy(root, "build", "-q", "-t", "myapp:v1.0", seed_app).stdout.startswith("sha256:")
    assert mkpy(root, "tag", "myapp:v1.0", "myregistry.com/myapp:v1.0").returncode == 0
    lines = mkpy(root, "ls").stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    rows = {tuple(line.split()[:2]) for line in lines[1:]}
    assert {("busybox", "latest"), ("myapp", "v1.0"), ("myregistry.com/myapp", "v1.0")} <= rows
    ids = mkpy(root, "ls", "-q").stdout.split()
    assert len(ids) == 4 and all(len(i) == 12 for i in ids)

    out = str(tmp_path / "x.tar")
    assert mkpy(root, "export", "myapp:v1.0", "-o", out).returncode == 0
    other = str(tmp_path / "mkpyt-img-other")
    done = mkpy(other, "import", out)
    assert done.returncode == 0 and "docker.io/library/myapp:v1.0" in done.stdout

    assert "Untagged: docker.io/library/myapp:v1.0" in mkpy(root, "rm", "myapp:v1.0").stdout
    done = mkpy(root, "rm", "myregistry.com/myapp:v1.0")
    assert "Deleted: sha256:" in done.stdout
    assert "Total reclaimed space" in mkpy(root, "prune").stdout
    assert [line.split()[0] for line in mkpy(root, "ls").stdout.splitlines()[1:]] == [
        "busybox", "registry.k8s.io/pause"]


def test_errors_are_one_line_with_exit_status_1(store, tmp_path):
    done = mkpy(store.root, "rm", "nothere:1")
    assert done.returncode == 1 and done.stderr.startswith("Error: image 'nothere:1' not found")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\nBOGUS x\n")
    done = mkpy(store.root, "build", "-t", "x:1", str(tmp_path / "ctx"))
    assert done.returncode == 1 and "Dockerfile:2: unknown instruction 'BOGUS'" in done.stderr
    done = mkpy(store.root, "pull", "127.0.0.1:1/x:1")
    assert done.returncode == 1 and "unreachable" in done.stderr and "Traceback" not in done.stderr


def test_root_from_environment(store):
    done = subprocess.run([sys.executable, "-m", "minikube_py.cli.main", "image", "ls"], capture_output=True,
                          text=True, env={**os.environ, "MKPY_ROOT": store.root}, timeout=60)
    assert done.returncode == 0 and "busybox" in done.stdout
