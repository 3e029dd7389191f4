"""RUN steps execute in containers of the project's runtime; their upper dir becomes the layer."""

import tarfile

import pytest

from integration.image.runner import Container
from minikube_py.image import ImageError

pytestmark = pytest.mark.integration

DOCKERFILE = """FROM busybox:latest
ARG GREETING=hi
ENV WHO=world
RUN echo "$GREETING $WHO from $(hostname)" > /hello && rm /etc/hosts && mkdir /data && chown 33:33 /data
RUN ["/bin/sh", "-c", "cat /hello"]
CMD ["sh", "-c", "cat /hello; ls -ln / | grep data; test -e /etc/hosts || echo no-hosts"]
"""


@pytest.mark.vm
def test_run_steps_through_the_runtime(store, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    lines: list[str] = []
    image = store.build(str(ctx), tags=["runtest:1"], build_args={"GREETING": "hello"}, out=lines.append)
    assert " hello world from mkpy-build" in lines           # RUN output streamed from the container log
    with tarfile.open(store.blobs.path(image.layers[1]["digest"])) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert "etc/.wh.hosts" in members                        # overlay whiteout -> OCI whiteout
    assert members["data"].uid == 33 and members["hello"].isfile()
    with Container(store, "runtest:1", str(tmp_path), "mkpyt-img-run") as c:
        assert c.wait()["exitCode"] == 0
        out = c.output()
    assert out.startswith("hello world from mkpy-build\n") and " 33 " in out and out.endswith("no-hosts\n")
    again: list[str] = []
    assert store.build(str(ctx), tags=["runtest:1"], build_args={"GREETING": "hello"},
                       out=again.append).digest == image.digest
    assert again.count(" ---> CACHED") == 5
    # a different build-arg value changes the ARG step's key, so every step after it runs again
    other: list[str] = []
    changed = store.build(str(ctx), tags=["runtest:2"], build_args={"GREETING": "hey"}, out=other.append)
    assert other.count(" ---> CACHED") == 0 and " hey world from mkpy-build" in other
    assert changed.digest != image.digest


def test_failing_run_names_the_line_and_tags_nothing(store, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\n\nRUN echo before; exit 3\n")
    with pytest.raises(ImageError) as err:
        store.build(str(ctx), tags=["fails:1"], out=lambda _: None)
    assert "Dockerfile:3: RUN:" in str(err.value) and "non-zero code: 3" in str(err.value)
    assert not store.exists("fails:1")


def test_pause_image_holds_a_sandbox_open(store, tmp_path):
    with Container(store, "registry.k8s.io/pause:3.9", str(tmp_path), "mkpyt-img-pause") as c:
        assert c.client.state(c.cid)["status"] == "running"
        assert c.client.exit_info(c.cid) is None
        c.client.kill(c.cid, "SIGKILL")
        assert c.wait()["signal"] in (9, "SIGKILL", "KILL")
