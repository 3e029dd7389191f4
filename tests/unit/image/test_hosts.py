import pytest

from minikube_py.image import ImageError
from minikube_py.image.hosts import endpoints, write_mirror


def test_defaults_without_a_file(tmp_path):
    assert [e.url for e in endpoints(str(tmp_path), "docker.io", "pull")] == ["https://registry-1.docker.io"]
    assert [e.url for e in endpoints(str(tmp_path), "quay.io", "pull")] == ["https://quay.io"]
    assert endpoints(None, "localhost:5000", "pull")[0].url == "http://localhost:5000"


def test_server_mapping_like_containerd(tmp_path):
    write_mirror(str(tmp_path), "myregistry.com", "http://127.0.0.1:5000")
    (e,) = endpoints(str(tmp_path), "myregistry.com", "push")
    assert e.url == "http://127.0.0.1:5000" and e.insecure


def test_mirrors_first_with_capabilities_and_relative_ca(tmp_path):
    d = tmp_path / "docker.io"
    d.mkdir()
    (d / "hosts.toml").write_text('server = "https://registry-1.docker.io"\n'
                                  '[host."https://mirror.local:5443"]\n'
                                  '  capabilities = ["pull", "resolve"]\n  ca = "ca.pem"\n')
    pull = endpoints(str(tmp_path), "docker.io", "pull")
    assert [e.url for e in pull] == ["https://mirror.local:5443", "https://registry-1.docker.io"]
    assert pull[0].ca == str(d / "ca.pem")
    assert [e.url for e in endpoints(str(tmp_path), "docker.io", "push")] == ["https://registry-1.docker.io"]


def test_default_file_and_bad_file(tmp_path):
    (tmp_path / "_default").mkdir()
    (tmp_path / "_default" / "hosts.toml").write_text('server = "http://127.0.0.1:1234"\n')
    assert endpoints(str(tmp_path), "anything.io", "pull")[0].url == "http://127.0.0.1:1234"
    (tmp_path / "bad.io").mkdir()
    (tmp_path / "bad.io" / "hosts.toml").write_text('server = "ftp://x"\n')
    with pytest.raises(ImageError, match="http:// or https://"):
        endpoints(str(tmp_path), "bad.io", "pull")
