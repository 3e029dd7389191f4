import os

import pytest

from minikube_py.image import ImageError
from minikube_py.image.blobs import BlobStore
from minikube_py.image.digest import sha256


def test_verified_write_and_idempotent_put(tmp_path):
    blobs = BlobStore(str(tmp_path))
    digest = blobs.put(b"hello")
    assert digest == sha256(b"hello") and blobs.read(digest) == b"hello"
    assert blobs.put(b"hello", digest) == digest
    assert list(blobs) == [digest]


def test_mismatch_stores_nothing(tmp_path):
    blobs = BlobStore(str(tmp_path))
    wrong = sha256(b"other")
    with pytest.raises(ImageError) as err:
        blobs.put(b"hello", wrong)
    assert err.value.reason == "DigestMismatch" and wrong in str(err.value)
    assert list(blobs) == [] and os.listdir(blobs.ingest_dir) == []


def test_size_mismatch_and_abort_leave_nothing(tmp_path):
    blobs = BlobStore(str(tmp_path))
    digest = sha256(b"abc")
    with pytest.raises(ImageError, match="size mismatch"), blobs.writer(digest, 4) as w:
        w.write(b"abc")
        w.commit()
    with pytest.raises(RuntimeError), blobs.writer(digest) as w:
        w.write(b"ab")
        raise RuntimeError("connection dropped")
    assert list(blobs) == [] and os.listdir(blobs.ingest_dir) == []


def test_digests_are_checked_before_becoming_paths(tmp_path):
    blobs = BlobStore(str(tmp_path))
    with pytest.raises(ImageError, match="invalid digest"):
        blobs.path("sha256:../../etc/passwd")
