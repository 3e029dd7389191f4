import pytest

from minikube_py.image import ImageError
from minikube_py.image.reference import parse


@pytest.mark.parametrize(("text", "full", "familiar"), [
    ("busybox", "docker.io/library/busybox:latest", "busybox"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox"),
    ("someone/app:v2", "docker.io/someone/app:v2", "someone/app"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox"),
    ("myregistry.com/myapp:v1.0", "myregistry.com/myapp:v1.0", "myregistry.com/myapp"),
    ("localhost/app", "localhost/app:latest", "localhost/app"),
    ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c"),
])
def test_docker_style_normalisation(text, full, familiar):
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar == familiar


def test_digest_reference_keeps_no_default_tag():
    digest = "sha256:" + "a" * 64
    ref = parse(f"myregistry.com/myapp@{digest}")
    assert ref.tag is None and ref.digest == digest
    assert str(ref) == f"myregistry.com/myapp@{digest}"


@pytest.mark.parametrize(("text", "part"), [
    ("", "empty"),
    ("Busybox", "component"),
    ("busybox:bad tag", "tag"),
    ("busybox@sha256:123", "digest"),
    ("a//b", "component"),
])
def test_bad_references_name_the_part(text, part):
    with pytest.raises(ImageError, match=part):
        parse(text)
