"""seccomp, capabilities and rlimits in a forked child, against the real kernel (host and VM lane)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import tempfile

import prctl
import pytest

from minikube_py.kernel import shim
from minikube_py.kernel.syscalls import Syscalls
from minikube_py.kernel.trace import Tracer
from minikube_py.runtime import capabilities, rlimits, seccomp

from .conftest import Child

pytestmark = [pytest.mark.integration, pytest.mark.vm]


def outcome(fn) -> str:
    """"ok", or the errno name the call failed with."""
    try:
        fn()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))


def private_mounts() -> None:
    """A mount namespace of our own, so a mount that wrongly succeeds cannot touch the host."""
    shim.unshare(shim.CLONE_NEWNS)
    shim.mount(None, "/", None, shim.MS_REC | shim.MS_PRIVATE)


def run(body) -> str:
    status, said = Child(body).start().finish()
    assert os.waitstatus_to_exitcode(status) == 0, said
    return said.strip().removeprefix("result ")


def test_default_profile_denies_unshare_and_mount_but_ordinary_work_goes_on():
    def body(child):
        private_mounts()
        prctl.set_no_new_privs(True)   # what lets an unprivileged process load a filter; the runtime sets it
        tracer = Tracer()
        seccomp.load(seccomp.default_profile(), Syscalls(tracer))
        target = tempfile.mkdtemp(prefix="mkpyt-cg-")
        results = {
            "unshare": outcome(lambda: shim.unshare(shim.CLONE_NEWUTS)),
            "mount": outcome(lambda: shim.mount("none", target, "tmpfs")),
            "setns": outcome(lambda: shim.setns(os.open("/proc/self/ns/uts", os.O_RDONLY), 0)),
        }
        # ordinary work: files, a fork, an exec, a socket
        path = os.path.join(target, "f")
        with open(path, "w") as f:
            f.write("hello")
        results["file"] = "ok" if open(path).read() == "hello" else "bad"
        os.unlink(path)
        os.rmdir(target)
        pid = os.fork()
        if pid == 0:
            os._exit(3)
        results["fork"] = str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        results["exec"] = subprocess.run(["/bin/sh", "-c", "echo $((6*7))"], capture_output=True,
                                         text=True).stdout.strip()
        a, b = socket.socketpair()
        a.send(b"x")
        results["socket"] = b.recv(1).decode()
        results["traced"] = tracer.entries[0].call
        return sorted(results.items())

    said = run(body)
    assert said == str(sorted({"unshare": "EPERM", "mount": "EPERM", "setns": "EPERM", "file": "ok",
                               "fork": "3", "exec": "42", "socket": "x", "traced": "seccomp"}.items()))


def test_a_custom_profile_returns_the_errno_it_names():
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS},
        # only IPv6 sockets are refused: the argument check at work
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EAFNOSUPPORT,
         "args": [{"index": 0, "value": socket.AF_INET6, "op": "SCMP_CMP_EQ"}]},
    ]}

    def body(child):
        prctl.set_no_new_privs(True)
        seccomp.load(profile)
        return [outcome(lambda: os.mkdir("/tmp/mkpyt-cg-never")),
                outcome(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()),
                outcome(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()),
                outcome(os.getpid)]

    assert run(body) == str(["EROFS", "EAFNOSUPPORT", "ok", "ok"])


def test_without_cap_sys_admin_mount_fails_and_with_it_succeeds():
    def body(child, keep_admin: bool):
        private_mounts()
        keep = [capabilities.to_name(c) for c in capabilities.current()["permitted"]
                if keep_admin or c != capabilities.to_number("CAP_SYS_ADMIN")]
        capabilities.apply(keep, keep, keep, [], [])
        have = capabilities.current()
        target = tempfile.mkdtemp(prefix="mkpyt-cg-")
        result = outcome(lambda: shim.mount("none", target, "tmpfs"))
        if result == "ok":
            shim.umount2(target)
        os.rmdir(target)
        return [result, 21 in have["bounding"], 21 in have["effective"]]

    assert run(lambda c: body(c, keep_admin=False)) == str(["EPERM", False, False])
    # the control: the same child keeping CAP_SYS_ADMIN can mount (in its private namespace)
    assert run(lambda c: body(c, keep_admin=True)) == str(["ok", True, True])


def test_a_non_root_user_keeps_exactly_its_capabilities_across_setuid_and_exec():
    def body(child):
        def become_nobody():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)

        caps = ["CAP_NET_BIND_SERVICE"]
        capabilities.apply(["CAP_NET_BIND_SERVICE", "CAP_KILL"], caps, caps, caps, caps,
                           switch_user=become_nobody)
        # a program started now has the ambient capability in its effective set
        status = subprocess.run(["/bin/cat", "/proc/self/status"], capture_output=True, text=True).stdout
        fields = dict(line.split(":\t") for line in status.splitlines() if line.startswith(("Cap", "Uid")))
        return [fields["Uid"].split()[0], int(fields["CapEff"], 16), int(fields["CapBnd"], 16)]

    bit = 1 << capabilities.to_number("CAP_NET_BIND_SERVICE")
    kill = 1 << capabilities.to_number("CAP_KILL")
    assert run(body) == str(["65534", bit, bit | kill])


def test_rlimit_nofile_is_enforced():
    def body(child):
        rlimits.apply([{"type": "RLIMIT_NOFILE", "soft": 32, "hard": 32}])
        opened = []
        try:
            for _ in range(64):
                opened.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as exc:
            return [errno.errorcode[exc.errno], len(opened) < 32]
        return "no limit"

    assert run(body) == str(["EMFILE", True])


def test_kill_process_action_ends_the_process_with_sigsys():
    import signal

    def body(child):
        prctl.set_no_new_privs(True)
        seccomp.load({"defaultAction": "SCMP_ACT_ALLOW",
                      "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]})
        child.say("loaded")
        os.getppid()
        return "survived"

    child = Child(body).start()
    assert child.expect() == "loaded"
    status, said = child.finish()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS, (status, said)
