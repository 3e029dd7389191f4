"""The syscall facade and its trace, without root."""

import errno

import pytest

import minikube_py
from minikube_py.kernel import shim
from minikube_py.kernel.fake import FakeSyscalls
from minikube_py.kernel.syscalls import Syscalls, flag_names, mount_flag_names
from minikube_py.kernel.trace import Tracer, format_trace, read_trace


def test_package_imports_and_has_a_version():
    assert minikube_py.__version__.count(".") == 2


def test_shim_exports_kernel_constants():
    # Values from <linux/sched.h> / <sys/mount.h>; a wrong build would differ.
    assert shim.CLONE_NEWNS == 0x00020000
    assert shim.CLONE_NEWPID == 0x20000000
    assert shim.CLONE_NEWNET == 0x40000000
    assert shim.MS_BIND == 4096
    assert shim.MNT_DETACH == 2


def test_failing_call_names_the_call_and_its_arguments(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(OSError) as exc:
        shim.pivot_root(missing, missing + "/old")
    assert exc.value.errno in (errno.ENOENT, errno.EPERM)
    assert "pivot_root(" in str(exc.value) and missing in str(exc.value)


def test_trace_records_where_the_call_came_from(tmp_path):
    log = tmp_path / "trace.jsonl"
    tracer = Tracer(log)
    sc = Syscalls(tracer)
    with pytest.raises(OSError):
        sc.umount2(str(tmp_path / "not-a-mount"), why="show a failure")
    sc.note("decide", why="a step that is not a syscall", choice="v1")
    tracer.close()
    entries = read_trace(log)
    assert [e.call for e in entries] == ["umount2", "decide"]
    assert entries[0].error and "umount2(" in entries[0].error
    assert entries[0].where.startswith("tests/unit/kernel/test_facade.py:")
    text = format_trace(entries)
    assert "   1. [pid" in text and "FAILED" in text and "a step that is not a syscall" in text


def test_flag_names_are_readable():
    assert flag_names(shim.CLONE_NEWPID | shim.CLONE_NEWNS) == "CLONE_NEWNS|CLONE_NEWPID"
    assert mount_flag_names(shim.MS_BIND | shim.MS_REC) == "MS_BIND|MS_REC"


def test_fake_records_and_fails_on_request():
    fake = FakeSyscalls()
    fake.mount("proc", "/proc", "proc")
    fake.fail("pivot_root", errno.EINVAL)
    with pytest.raises(OSError) as exc:
        fake.pivot_root("/new", "/new/old")
    assert exc.value.errno == errno.EINVAL
    assert fake.names() == ["mount", "pivot_root"]
