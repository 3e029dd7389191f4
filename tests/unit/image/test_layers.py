import io
import os
import stat
import tarfile

import pytest

from minikube_py.image import ImageError
from minikube_py.image.blobs import BlobStore
from minikube_py.image.layers import OPAQUE_XATTR, unpack, write_layer, write_tar

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="overlay whiteouts need CAP_MKNOD and trusted.* xattrs")


def _tar(entries: list[tuple[str, str, bytes | str]]) -> io.BytesIO:
    """entries: (name, kind 'f'|'d'|'l'|'h', data or link target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind in ("l", "h"):
                info.type = tarfile.SYMTYPE if kind == "l" else tarfile.LNKTYPE
                info.linkname = data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _tree(root):
    os.makedirs(root / "etc" / "sub")
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    (root / "etc" / "sub" / "b").write_text("b")
    (root / "bin").mkdir()
    os.symlink("/bin/busybox", root / "bin" / "sh")


def test_same_tree_same_digest_whatever_the_mtimes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _tree(a)
    _tree(b)
    os.utime(b / "etc" / "hosts", (1000, 1000))
    d1 = write_layer(BlobStore(str(tmp_path / "s1")), str(a), owner=(0, 0))
    d2 = write_layer(BlobStore(str(tmp_path / "s2")), str(b), owner=(0, 0))
    assert d1 == d2
    (b / "etc" / "hosts").write_text("changed\n")
    assert write_layer(BlobStore(str(tmp_path / "s3")), str(b), owner=(0, 0)) != d1


def test_entries_sorted_and_normalised(tmp_path):
    _tree(tmp_path / "t")
    buf = io.BytesIO()
    write_tar(str(tmp_path / "t"), buf, mtime=42, owner=(0, 0), owners={"etc/hosts": (33, 33)})
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[:2] == ["bin", "etc"]
    assert set(names) == {"bin", "bin/sh", "etc", "etc/hosts", "etc/sub", "etc/sub/b"}
    assert {m.mtime for m in members} == {42} and {m.uname for m in members} == {""}
    assert [(m.uid, m.gid) for m in members if m.name == "etc/hosts"] == [(33, 33)]


@needs_root
def test_oci_whiteouts_become_overlay_whiteouts_and_back(tmp_path):
    layer = _tar([("etc/", "d", b""), ("etc/.wh.hosts", "f", b""), ("var/", "d", b""),
                  ("var/.wh..wh..opq", "f", b""), ("var/new", "f", b"n")])
    dest = tmp_path / "layer"
    dest.mkdir()
    diff_id = unpack(layer, str(dest))
    st = os.lstat(dest / "etc" / "hosts")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(dest / "var", OPAQUE_XATTR) == b"y"
    assert not os.path.exists(dest / "var" / ".wh..wh..opq")
    assert diff_id.startswith("sha256:")
    # The other way: an overlay upper dir becomes OCI whiteouts again (what a RUN step's layer is).
    buf = io.BytesIO()
    write_tar(str(dest), buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        names = tar.getnames()
    assert "etc/.wh.hosts" in names and "var/.wh..wh..opq" in names and "etc/hosts" not in names


def test_diff_id_is_verified(tmp_path):
    layer = _tar([("a", "f", b"a")])
    with pytest.raises(ImageError) as err:
        unpack(layer, str(tmp_path), expected_diff_id="sha256:" + "0" * 64)
    assert err.value.reason == "DigestMismatch"


def test_dotdot_names_are_confined_to_the_layer(tmp_path):
    dest = tmp_path / "layer"
    dest.mkdir()
    unpack(_tar([("../../evil", "f", b"x")]), str(dest))
    assert (dest / "evil").read_bytes() == b"x" and not (tmp_path / "evil").exists()


@pytest.mark.parametrize("entries", [
    [("link", "l", "/tmp"), ("link/evil", "f", b"x")],
    [("hard", "h", "../../etc/passwd")],
])
def test_members_cannot_escape_the_layer(tmp_path, entries):
    dest = tmp_path / "layer"
    dest.mkdir()
    with pytest.raises(ImageError):
        unpack(_tar(entries), str(dest))
    assert not os.path.exists(tmp_path / "evil") and not os.path.exists("/tmp/evil")


def test_hard_links_and_symlinks_unpack(tmp_path):
    dest = tmp_path / "layer"
    dest.mkdir()
    unpack(_tar([("bin/", "d", b""), ("bin/busybox", "f", b"#!"), ("bin/sh", "l", "/bin/busybox"),
                 ("bin/ash", "h", "bin/busybox")]), str(dest))
    assert os.readlink(dest / "bin" / "sh") == "/bin/busybox"
    assert os.stat(dest / "bin" / "ash").st_ino == os.stat(dest / "bin" / "busybox").st_ino
