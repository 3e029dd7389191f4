"""A recording stand-in for Syscalls, for unit tests of the layers above the facade.

It performs nothing; it remembers each call so a test can assert on the order
and arguments, and it can be told to fail a given call with an errno.
"""

from __future__ import annotations

import errno as _errno
import os
from dataclasses import dataclass, field


@dataclass
class Call:
    name: str
    args: tuple
    kwargs: dict = field(default_factory=dict)


class FakeSyscalls:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: dict[str, int] = {}  # call name -> errno to raise
        self.files: dict[str, str] = {}  # what write_file wrote
        self.next_pid = 4242

    def fail(self, name: str, err: int = _errno.EPERM) -> None:
        self.failures[name] = err

    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    def _record(self, name: str, *args: object, **kwargs: object) -> None:
        kwargs.pop("why", None)
        self.calls.append(Call(name, args, kwargs))
        if name in self.failures:
            err = self.failures[name]
            raise OSError(err, f"{os.strerror(err)}: {name} (fake)")

    def note(self, call: str, why: str = "", **args: object) -> None:
        self._record("note:" + call, **args)

    def clone(self, flags: int, why: str = "") -> int:
        self._record("clone", flags)
        return self.next_pid

    def unshare(self, flags: int, why: str = "") -> None:
        self._record("unshare", flags)

    def setns(self, fd: int, nstype: int = 0, why: str = "", path: str = "") -> None:
        self._record("setns", fd, nstype, path=path)

    def mount(self, source, target, fstype=None, flags=0, data=None, why="") -> None:
        self._record("mount", source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int = 0, why: str = "") -> None:
        self._record("umount2", target, flags)

    def pivot_root(self, new_root: str, put_old: str, why: str = "") -> None:
        self._record("pivot_root", new_root, put_old)

    def chdir(self, path: str, why: str = "") -> None:
        self._record("chdir", path)

    def mkdir(self, path: str, mode: int = 0o755, why: str = "") -> None:
        self._record("mkdir", path, mode)

    def rmdir(self, path: str, why: str = "") -> None:
        self._record("rmdir", path)

    def mknod(self, path: str, mode: int, device: int, why: str = "") -> None:
        self._record("mknod", path, mode, device)

    def symlink(self, target: str, path: str, why: str = "") -> None:
        self._record("symlink", target, path)

    def write_file(self, path: str, data: str, why: str = "") -> None:
        self._record("write", path, data)
        self.files[path] = data

    def sethostname(self, name: str, why: str = "") -> None:
        self._record("sethostname", name)

    def setdomainname(self, name: str, why: str = "") -> None:
        self._record("setdomainname", name)

    def seccomp_set_filter(self, program: bytes, flags: int = 0, why: str = "") -> None:
        self._record("seccomp", program, flags)

    def execve(self, path: str, argv: list[str], env: dict[str, str], why: str = "") -> None:
        self._record("execve", path, argv, env)
