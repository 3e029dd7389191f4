"""A cluster for one test, every name starting with mkpyt-ing (tmp roots, node netns, ports)."""

from __future__ import annotations

import pytest
from kubectl_binaries import kubectl_120  # noqa: F401  (a fixture for this suite)

from integration.up.conftest import cluster_environment


@pytest.fixture
def ing_cluster_env():
    with cluster_environment("mkpyt-ing") as env:
        yield env
