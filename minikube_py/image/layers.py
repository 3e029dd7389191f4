"""Layer tarballs: written reproducibly, unpacked into overlayfs-ready directories.

An OCI layer is a tar of the files one build step changed. Deletions travel as
"whiteouts": an empty file `.wh.NAME` means "NAME is gone", `.wh..wh..opq` in a
directory means "hide everything lower layers had here". overlayfs wants the
same facts in another shape, so unpacking converts them:

    .wh.NAME        -> NAME as a character device 0/0       (overlayfs whiteout)
    dir/.wh..wh..opq -> xattr trusted.overlay.opaque="y" on dir  (opaque directory)

and `write_layer` converts back when a container's upper directory becomes a
layer (the RUN step of a build).

Reproducible: entries sorted by name, fixed mtime, numeric owners without user
names, and gzip with mtime 0 and no file name, so the same tree gives the same
digest on every build.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from minikube_py.image.blobs import BlobStore
from minikube_py.image.digest import OCI_LAYER_GZIP
from minikube_py.image.errors import ImageError

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


# ------------------------------------------------------------------ writing
class _HashingWriter:
    """Passes bytes on to `sink` and hashes them (the uncompressed tar -> the layer's diff_id)."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.sink.write(data)

    def flush(self) -> None:
        pass


def _walk_sorted(root: str) -> Iterator[str]:
    """Relative paths under root, each directory before its contents, names in byte order."""
    stack = [""]
    while stack:
        rel = stack.pop()
        names = sorted(os.listdir(os.path.join(root, rel) if rel else root), key=os.fsencode)
        subdirs = []
        for name in names:
            path = posixpath.join(rel, name) if rel else name
            yield path
            full = os.path.join(root, path)
            if stat.S_ISDIR(os.lstat(full).st_mode):
                subdirs.append(path)
        # Depth-first in sorted order: push in reverse so the smallest name comes out first.
        # (A directory's contents follow all of its siblings; any fixed order is reproducible.)
        stack.extend(reversed(subdirs))


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def write_tar(root: str, out: BinaryIO, mtime: int = 0, owner: tuple[int, int] | None = None,
              owners: dict[str, tuple[int, int]] | None = None) -> None:
    """Write the tree under root as a layer tar; overlay whiteouts become OCI whiteouts.

    owner=(uid, gid) stamps every entry with that owner (a base image built by any user);
    owners={relative path: (uid, gid)} overrides it per entry (COPY --chown).
    """
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in _walk_sorted(root):
            full = os.path.join(root, rel)
            st = os.lstat(full)
            if _is_whiteout(st):
                info = tarfile.TarInfo(posixpath.join(posixpath.dirname(rel),
                                                      WHITEOUT_PREFIX + posixpath.basename(rel)))
                info.mode, info.uid, info.gid, info.mtime = 0o644, 0, 0, mtime
                tar.addfile(info)
                continue
            info = tar.gettarinfo(full, arcname=rel)
            if info is None:        # sockets cannot be in a tar
                continue
            info.mtime, info.uname, info.gname = mtime, "", ""
            if owners and rel in owners:
                info.uid, info.gid = owners[rel]
            elif owner is not None:
                info.uid, info.gid = owner
            info.pax_headers = {}
            if info.isreg():
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
            if info.isdir() and _is_opaque(full):
                marker = tarfile.TarInfo(posixpath.join(rel, OPAQUE_MARKER))
                marker.mode, marker.mtime = 0o644, mtime
                tar.addfile(marker)


def write_layer(blobs: BlobStore, root: str, mtime: int = 0, owner: tuple[int, int] | None = None,
                owners: dict[str, tuple[int, int]] | None = None) -> tuple[dict, str]:
    """Tar + gzip a directory into the blob store. Returns (descriptor, diff_id)."""
    with blobs.writer() as blob:
        # filename="" and mtime=0 keep the gzip header free of anything that changes per build.
        with gzip.GzipFile(filename="", mode="wb", fileobj=blob, mtime=0, compresslevel=6) as gz:
            plain = _HashingWriter(gz)  # type: ignore[arg-type]
            write_tar(root, plain, mtime, owner, owners)  # type: ignore[arg-type]
        digest = blob.commit()
    desc = {"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": blob.size}
    return desc, "sha256:" + plain.hash.hexdigest()


# ------------------------------------------------------------------ reading
class _HashingReader:
    def __init__(self, src: BinaryIO) -> None:
        self.src = src
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.hash.update(data)
        return data

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return "sha256:" + self.hash.hexdigest()


def open_uncompressed(f: BinaryIO) -> BinaryIO:
    """A layer blob as a plain tar stream: gzip is unwrapped, zstd is refused with a reason."""
    head = f.read(4)
    f.seek(0)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if head == b"\x28\xb5\x2f\xfd":
        raise ImageError("zstd-compressed layers are not supported (Python has no zstd in 3.11)")
    return f


def _clean(name: str) -> str:
    """A tar member name as a path relative to the layer root; refuse anything escaping it."""
    path = posixpath.normpath("/" + name).lstrip("/")
    if path in ("", "."):
        return ""
    if path == ".." or path.startswith("../"):
        raise ImageError(f"layer member {name!r} points outside the layer")
    return path


def _inside(dest: str, path: str) -> bool:
    """True when path's parent, with symlinks resolved, is still under dest (no writing via a link)."""
    parent = os.path.realpath(os.path.dirname(path))
    return parent == dest or parent.startswith(dest + os.sep)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def unpack(src: BinaryIO, dest: str, expected_diff_id: str | None = None) -> str:
    """Unpack a layer blob into dest (an empty directory) with overlayfs whiteouts. Returns diff_id."""
    dest = os.path.realpath(dest)
    stream = _HashingReader(open_uncompressed(src))
    try:
        tar = tarfile.open(fileobj=stream, mode="r|")  # type: ignore[call-overload]
    except tarfile.TarError as exc:
        raise ImageError(f"layer is not a tar archive: {exc}") from None
    members = iter(tar)
    seen = 0
    while True:
        try:
            member = next(members)
        except StopIteration:
            break
        except tarfile.ReadError as exc:
            # umoci 0.4 writes layers that stop right after the last file's data (no padding, no
            # end-of-archive blocks). Every member was read whole, and the diff_id check below
            # still vouches for every byte, so accept it as the end.
            if seen and "unexpected end of data" in str(exc):
                break
            raise ImageError(f"layer tar is damaged: {exc}") from None
        try:
            _unpack_member(tar, member, dest)
        except tarfile.TarError as exc:
            raise ImageError(f"layer tar is damaged at {member.name!r}: {exc}") from None
        seen += 1
    diff_id = stream.drain()
    if expected_diff_id and diff_id != expected_diff_id:
        raise ImageError(f"layer content digest mismatch: the image config says {expected_diff_id}, "
                         f"the layer unpacks to {diff_id}", reason="DigestMismatch")
    return diff_id


def _unpack_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: str) -> None:
    rel = _clean(member.name)
    if not rel:
        return
    base, parent = posixpath.basename(rel), posixpath.dirname(rel)
    target = os.path.join(dest, rel)
    if not _inside(dest, target):
        raise ImageError(f"layer member {member.name!r} would be written through a symlink out of the layer")
    if parent:
        os.makedirs(os.path.join(dest, parent), exist_ok=True)
    if base == OPAQUE_MARKER:
        os.setxattr(os.path.join(dest, parent) if parent else dest, OPAQUE_XATTR, b"y")
        return
    if base.startswith(WHITEOUT_PREFIX):
        gone = os.path.join(dest, parent, base[len(WHITEOUT_PREFIX):])
        _remove(gone)
        try:
            # overlayfs: a 0/0 character device in a layer hides the name in every layer below.
            os.mknod(gone, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        except PermissionError:
            raise ImageError(f"cannot create the overlay whiteout for {rel!r}: needs root (CAP_MKNOD)",
                             reason="Invalid") from None
        os.lchown(gone, member.uid, member.gid)
        return
    if member.islnk():
        member.linkname = _clean(member.linkname)
        if not member.linkname or not os.path.lexists(os.path.join(dest, member.linkname)):
            raise ImageError(f"layer hard link {member.name!r} -> {member.linkname!r}: target not in layer")
    if os.path.lexists(target) and not (member.isdir() and os.path.isdir(target)
                                        and not os.path.islink(target)):
        _remove(target)
    member.name = rel
    tar.extract(member, dest, set_attrs=True, numeric_owner=True)
