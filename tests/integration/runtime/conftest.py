"""Fixtures for the runtime's integration tests: a busybox rootfs, bundles, and the CLI.

Everything is named mkpyt-rt-* (container ids, cgroups, netns files) and lives in
pytest's tmp dirs; `rt` deletes every container a test left, even after a failure.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from minikube_py.runtime.spec import default_spec

BUSYBOX = "/bin/busybox"


@pytest.fixture(scope="session")
def busybox_rootfs() -> Path:
    """A minimal rootfs: static busybox and one symlink per applet (what `busybox --install -s` does).

    Made with mkdtemp in /tmp rather than pytest's 0700 tmp tree, so that a container
    root mapped to another host uid (user namespace) can still reach it.
    """
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    top = Path(tempfile.mkdtemp(prefix="mkpyt-rt-rootfs-"))
    os.chmod(top, 0o755)
    try:
        yield _make_rootfs(top / "rootfs")
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _make_rootfs(root: Path) -> Path:
    root.mkdir()
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "root"):
        (root / d).mkdir()
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    os.chmod(root / "tmp", 0o1777)
    return root


class Runtime:
    """Runs `python -m minikube_py.runtime.cli --root <tmp>` and remembers what it created."""

    def __init__(self, root: Path, rootfs: Path, workdir: Path) -> None:
        self.root = root
        self.rootfs = rootfs
        self.workdir = workdir
        self.ids: list[str] = []

    def new_id(self) -> str:
        cid = f"mkpyt-rt-{uuid.uuid4().hex[:8]}"
        self.ids.append(cid)
        return cid

    def bundle(self, args: list[str], cid: str | None = None, **changes) -> tuple[str, Path]:
        """(id, bundle dir) for a config: runc's default spec, busybox root, our cgroup path.

        `changes` are dotted paths -> values, e.g. {"process.terminal": True}; a value of
        None deletes the key.
        """
        cid = cid or self.new_id()
        config = copy.deepcopy(default_spec(terminal=False))
        config["process"]["args"] = args
        config["root"]["path"] = str(self.rootfs)
        config["linux"]["cgroupsPath"] = f"/{cid}"
        for dotted, value in changes.items():
            *parents, last = dotted.split(".")
            node = config
            for p in parents:
                node = node.setdefault(p, {})
            if value is None:
                node.pop(last, None)
            else:
                node[last] = value
        bundle = self.workdir / cid
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(config))
        return cid, bundle

    def cli(self, *args: str, check: bool = True, timeout: float = 60,
            **kwargs) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "minikube_py.runtime.cli", "--root", str(self.root), *args]
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} -> exit {done.returncode}\n{done.stderr}")
        return done

    def state(self, cid: str) -> dict:
        return json.loads(self.cli("state", cid).stdout)

    def exit_info(self, cid: str, timeout: float = 30) -> dict:
        """exit.json, once the monitor has written it (we wait on the monitor, not a clock)."""
        path = self.root / cid / "exit.json"
        record = json.loads((self.root / cid / "state.json").read_text())
        from minikube_py.runtime.process import wait_gone

        wait_gone(record["monitor_pid"], record["monitor_start_time"], timeout=timeout)
        return json.loads(path.read_text())

    def log(self, cid: str) -> str:
        self.exit_info(cid)
        return (self.root / cid / "container.log").read_text()

    def output(self, cid: str) -> str:
        """The container's stdout, from its CRI log."""
        lines = self.log(cid).splitlines()
        return "\n".join(line.split(" ", 3)[3] for line in lines if line.split(" ")[1] == "stdout")

    def run_detached(self, args: list[str], **changes) -> str:
        cid, bundle = self.bundle(args, **changes)
        self.cli("create", "--bundle", str(bundle), cid)
        self.cli("start", cid)
        return cid

    def wait_status(self, cid: str, status: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not (self.root / cid / "state.json").exists() or self.state(cid)["status"] != status:
            assert time.monotonic() < deadline, f"{cid} never became {status}"
            time.sleep(0.05)

    def cleanup(self) -> None:
        for cid in self.ids:
            if (self.root / cid).exists():
                self.cli("delete", "--force", cid, check=False)


@pytest.fixture
def rt(tmp_path: Path, busybox_rootfs: Path):
    runtime = Runtime(tmp_path / "state", busybox_rootfs, tmp_path)
    yield runtime
    runtime.cleanup()
