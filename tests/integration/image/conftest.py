import pytest
from unit.image.fixtures import busybox_layout, seed_app, store  # noqa: F401

from integration.image.registry_fixture import Registry


@pytest.fixture
def make_registry(tmp_path):
    """Start docker-registries on 127.0.0.1 free ports; all are stopped when the test ends."""
    started: list[Registry] = []

    def make(**kwargs) -> Registry:
        d = tmp_path / f"mkpyt-img-registry{len(started)}"
        d.mkdir()
        reg = Registry(str(d), **kwargs)
        started.append(reg)
        return reg.start()

    yield make
    for reg in started:
        reg.stop()


@pytest.fixture
def registry(make_registry) -> Registry:
    return make_registry()
