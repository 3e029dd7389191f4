import os

import pytest

from minikube_py.image import ImageError


def build(store, ctx, **kw):
    lines = []
    image = store.build(ctx, out=lines.append, **kw)
    return image, lines


def test_seed_app_builds_and_rebuild_is_all_cached(store, seed_app):
    image, _ = build(store, seed_app, tags=["myregistry.com/myapp:v1.0"])
    cfg = image.config
    assert cfg["Cmd"] == ["sh", "/app/index.sh"] and cfg["WorkingDir"] == "/app"
    assert cfg["ExposedPorts"] == {"3000/tcp": {}}
    top = store.unpack(image)[-1]
    assert open(os.path.join(top, "app", "index.sh")).read().startswith("#!/bin/sh")
    blobs_before = set(store.blobs)
    again, lines2 = build(store, seed_app, tags=["myregistry.com/myapp:v1.0"])
    assert again.digest == image.digest and set(store.blobs) == blobs_before
    assert lines2.count(" ---> CACHED") == 4
    # A changed input invalidates its step and the ones after it, not the ones before.
    with open(os.path.join(seed_app, "index.sh"), "a") as f:
        f.write("# changed\n")
    changed, lines3 = build(store, seed_app, tags=["myregistry.com/myapp:v1.0"])
    assert changed.digest != image.digest and lines3.count(" ---> CACHED") == 1


def test_instructions_shape_the_config(store, tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "sub" / "a.txt").write_text("a")
    (ctx / "sub" / "skip.log").write_text("x")
    (ctx / "top.txt").write_text("t")
    (ctx / ".dockerignore").write_text("**/*.log\n")
    (ctx / "Dockerfile").write_text(
        "ARG BASE=busybox\nFROM ${BASE}:latest\nARG VER=1\nENV APP_VER=$VER HOME=/home/app\n"
        "LABEL org.example.v=\"$VER\" team=k8s\nWORKDIR app\nWORKDIR sub\n"
        "COPY --chown=www-data:www-data sub /data/\nCOPY top.txt .\nADD top.txt /opt/renamed.txt\n"
        "EXPOSE 3000 53/udp\nUSER nobody\nCMD [\"serve\"]\n"
        "ENTRYPOINT [\"/bin/sh\", \"-c\"]\nSTOPSIGNAL SIGINT\n")
    image, lines = build(store, str(ctx), tags=["t:1"], build_args={"VER": "2", "UNUSED": "x"})
    cfg = image.config
    assert "APP_VER=2" in cfg["Env"] and "HOME=/home/app" in cfg["Env"]
    assert cfg["Labels"] == {"org.example.v": "2", "team": "k8s"}
    assert cfg["WorkingDir"] == "/app/sub" and cfg["User"] == "nobody" and cfg["StopSignal"] == "SIGINT"
    assert cfg["ExposedPorts"] == {"3000/tcp": {}, "53/udp": {}}
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] is None      # ENTRYPOINT resets CMD
    assert any("UNUSED" in line for line in lines)
    layers = store.unpack(image)
    merged = {}
    for layer in layers:
        for dirpath, _, files in os.walk(layer):
            for f in files:
                merged[os.path.relpath(os.path.join(dirpath, f), layer)] = os.path.join(dirpath, f)
    assert "data/a.txt" in merged and "data/skip.log" not in merged
    assert os.stat(merged["data/a.txt"]).st_uid == 33           # --chown by name via the image's /etc/passwd
    assert "app/sub/top.txt" in merged and "opt/renamed.txt" in merged


def test_add_extracts_local_tar(store, tmp_path):
    import tarfile

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (tmp_path / "f.txt").write_text("inside")
    with tarfile.open(ctx / "a.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "f.txt", "pkg/f.txt")
    (ctx / "Dockerfile").write_text("FROM busybox\nADD a.tar.gz /opt/\n")
    image, _ = build(store, str(ctx))
    assert open(os.path.join(store.unpack(image)[-1], "opt", "pkg", "f.txt")).read() == "inside"


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("RUN echo\n", "Dockerfile:1: the first instruction must be FROM"),
    ("FROM busybox\nCOPY nothere /x\n", "Dockerfile:2: COPY: source 'nothere' not found"),
    ("FROM busybox\nEXPOSE 99999\n", "Dockerfile:2: EXPOSE: invalid port '99999'"),
    ("FROM busybox\nFROM busybox\n", "Dockerfile:2: FROM: multi-stage builds are not supported"),
    ("FROM busybox\n\nCOPY --chown=nosuchuser x /x\n", "Dockerfile:3: COPY: --chown: no 'nosuchuser'"),
    ("FROM busybox\nADD http://example.com/x /x\n", "only local files"),
    ("FROM busybox\nCOPY ../outside /x\n", "outside the build context"),
])
def test_bad_dockerfiles_name_line_and_reason(store, tmp_path, dockerfile, message):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "x").write_text("x")
    (ctx / "Dockerfile").write_text(dockerfile)
    with pytest.raises(ImageError) as err:
        build(store, str(ctx), tags=["bad:1"])
    assert message in str(err.value)
    assert not store.exists("bad:1")
