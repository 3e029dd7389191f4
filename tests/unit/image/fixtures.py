"""Fixtures shared by the image tests (unit and integration conftests import them)."""

from __future__ import annotations

import os
import shutil

import pytest

from minikube_py.image import baseimage
from minikube_py.image.store import ImageStore

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SEED_APP = os.path.join(REPO, "examples", "seed", "app")


@pytest.fixture(scope="session")
def busybox_layout(tmp_path_factory: pytest.TempPathFactory) -> str:
    """busybox:latest as an OCI layout, built once per session by the rootfs code."""
    if not os.path.exists(baseimage.BUSYBOX):
        pytest.skip("busybox-static is not installed")
    out = tmp_path_factory.mktemp("mkpyt-img-busybox")
    baseimage.build_layout(str(out))
    return str(out)


@pytest.fixture
def store(tmp_path, busybox_layout: str) -> ImageStore:
    """A fresh store in the test's tmp dir, with busybox:latest imported."""
    s = ImageStore(str(tmp_path / "mkpyt-img-root"))
    s.import_archive(busybox_layout)
    return s


@pytest.fixture
def seed_app(tmp_path) -> str:
    """A copy of the seed demo app (tests may change files in it)."""
    dst = tmp_path / "app"
    shutil.copytree(SEED_APP, dst)
    return str(dst)
