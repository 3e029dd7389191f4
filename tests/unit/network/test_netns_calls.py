"""The kernel calls behind a netns file, checked on the recording fake (no root)."""

from __future__ import annotations

import pytest

from minikube_py.kernel import shim
from minikube_py.kernel.fake import FakeSyscalls
from minikube_py.network.errors import NetworkError
from minikube_py.network.netns import create_netns, delete_netns, netns_path


def test_create_netns_shares_the_dir_unshares_a_thread_and_pins_it_with_a_bind_mount(tmp_path):
    fake = FakeSyscalls()
    path = str(tmp_path / "pod")
    create_netns(path, fake)
    assert fake.names() == ["mount", "unshare", "mount"]
    share, unshare, pin = fake.calls
    assert share.args[1] == str(tmp_path) and share.args[3] & shim.MS_SHARED
    assert unshare.args[0] == shim.CLONE_NEWNET
    assert pin.args[:2] == ("/proc/thread-self/ns/net", path) and pin.args[3] == shim.MS_BIND
    with pytest.raises(NetworkError, match="already exists"):
        create_netns(path, fake)
    delete_netns(path, fake)
    assert not (tmp_path / "pod").exists()
    delete_netns(path, fake)  # idempotent


def test_a_failed_unshare_leaves_no_file(tmp_path):
    fake = FakeSyscalls()
    fake.fail("unshare")
    with pytest.raises(OSError):
        create_netns(str(tmp_path / "pod"), fake)
    assert not (tmp_path / "pod").exists()


def test_names_must_be_plain_file_names():
    assert netns_path("pod-1") == "/run/netns/pod-1"
    for bad in ("", "a/b", ".."):
        with pytest.raises(NetworkError):
            netns_path(bad)
