"""Content-addressed blobs: a file's name is the sha256 of its bytes.

A blob is written to `ingest/` first and hashed as the bytes go by; only when
the digest matches what the writer was promised is it renamed into
`blobs/sha256/<hex>` (rename is atomic, so a reader sees all of a blob or none
of it). A mismatch or an interrupted write leaves nothing under `blobs/`:
whatever is found there was verified.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from minikube_py.image.digest import check_digest
from minikube_py.image.errors import ImageError


class BlobWriter:
    """A file-like sink; commit() verifies and publishes, abort() (or an exception) discards."""

    def __init__(self, store: BlobStore, expected: str | None, expected_size: int | None) -> None:
        self.store = store
        self.expected = check_digest(expected) if expected else None
        self.expected_size = expected_size
        fd, self.tmp = tempfile.mkstemp(dir=store.ingest_dir, prefix="blob-")
        self.file = os.fdopen(fd, "wb")
        self.hash = hashlib.sha256()
        self.size = 0
        self.digest: str | None = None

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()

    def commit(self) -> str:
        self.file.close()
        digest = "sha256:" + self.hash.hexdigest()
        try:
            if self.expected and digest != self.expected:
                raise ImageError(f"digest mismatch: expected {self.expected}, got {digest} "
                                 f"({self.size} bytes)", reason="DigestMismatch")
            if self.expected_size is not None and self.size != self.expected_size:
                raise ImageError(f"size mismatch for {digest}: expected {self.expected_size} bytes, "
                                 f"got {self.size}", reason="DigestMismatch")
            os.chmod(self.tmp, 0o444)
            os.replace(self.tmp, self.store.path(digest))
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
        self.digest = digest
        return digest

    def abort(self) -> None:
        if not self.file.closed:
            self.file.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or self.digest is None:
            self.abort()


class BlobStore:
    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "blobs", "sha256")
        self.ingest_dir = os.path.join(root, "ingest")
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.ingest_dir, exist_ok=True)

    def path(self, digest: str) -> str:
        return os.path.join(self.dir, check_digest(digest).split(":", 1)[1])

    def has(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        return os.stat(self.path(digest)).st_size

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise ImageError(f"blob {digest} is not in the store", reason="NotFound") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def writer(self, expected: str | None = None, size: int | None = None) -> BlobWriter:
        return BlobWriter(self, expected, size)

    def put(self, data: bytes, expected: str | None = None) -> str:
        from minikube_py.image.digest import sha256

        digest = sha256(data)
        if (expected is None or digest == expected) and self.has(digest):
            return digest          # already stored: content addressing makes this a no-op
        with self.writer(expected, len(data) if expected else None) as w:
            w.write(data)
            return w.commit()

    def put_stream(self, src: BinaryIO, expected: str | None = None, size: int | None = None) -> str:
        if expected and self.has(expected):
            return expected
        with self.writer(expected, size) as w:
            shutil.copyfileobj(src, w, 1 << 20)
            return w.commit()

    def delete(self, digest: str) -> int:
        try:
            size = self.size(digest)
            os.unlink(self.path(digest))
            return size
        except FileNotFoundError:
            return 0

    def __iter__(self) -> Iterator[str]:
        for name in sorted(os.listdir(self.dir)):
            yield "sha256:" + name

    def clean_ingest(self) -> None:
        """Drop half-written blobs (a crash mid-pull); only call while no writer runs."""
        for name in os.listdir(self.ingest_dir):
            os.unlink(os.path.join(self.ingest_dir, name))
