"""The native shim against the real kernel (root)."""

import os
import socket

import pytest

from minikube_py.kernel import shim

pytestmark = [pytest.mark.integration, pytest.mark.vm]


def _in_child(fn) -> int:
    """Run fn in a forked child; return its exit status (0 = fn returned without error)."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001 - report anything as a failure code
            os.write(2, f"child failed: {exc!r}\n".encode())
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_unshare_uts_then_sethostname_stays_private():
    before = socket.gethostname()

    def child():
        shim.unshare(shim.CLONE_NEWUTS)
        shim.sethostname("mkpyt-uts")
        assert socket.gethostname() == "mkpyt-uts"

    assert _in_child(child) == 0
    assert socket.gethostname() == before


def test_clone_new_pid_namespace_child_is_pid_1():
    r, w = os.pipe()
    pid = shim.clone(shim.CLONE_NEWPID | shim.CLONE_NEWUTS)
    if pid == 0:
        os.close(r)
        os.write(w, str(os.getpid()).encode())
        os._exit(7)
    os.close(w)
    seen = os.read(r, 32).decode()
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert seen == "1"
    assert os.waitstatus_to_exitcode(status) == 7


def test_setns_joins_another_uts_namespace():
    # A child makes a UTS namespace and waits; a second child joins it through /proc.
    r, w = os.pipe()
    holder = os.fork()
    if holder == 0:
        os.close(r)
        shim.unshare(shim.CLONE_NEWUTS)
        shim.sethostname("mkpyt-joined")
        os.write(w, b"ready")
        os.close(w)
        import time

        time.sleep(30)
        os._exit(0)
    os.close(w)
    assert os.read(r, 5) == b"ready"
    os.close(r)
    try:

        def joiner():
            fd = os.open(f"/proc/{holder}/ns/uts", os.O_RDONLY)
            shim.setns(fd, shim.CLONE_NEWUTS)
            assert socket.gethostname() == "mkpyt-joined"

        assert _in_child(joiner) == 0
    finally:
        os.kill(holder, 9)
        os.waitpid(holder, 0)


def test_mount_and_umount_a_tmpfs_in_a_private_mount_namespace(tmp_path):
    target = str(tmp_path)

    def child():
        shim.unshare(shim.CLONE_NEWNS)
        shim.mount(None, "/", None, shim.MS_REC | shim.MS_PRIVATE)
        shim.mount("mkpyt", target, "tmpfs", shim.MS_NOSUID, "size=1m")
        with open(os.path.join(target, "x"), "w") as f:
            f.write("inside")
        assert any(target in line for line in open("/proc/self/mounts"))
        shim.umount2(target, shim.MNT_DETACH)

    assert _in_child(child) == 0
    assert not os.path.exists(os.path.join(target, "x"))
