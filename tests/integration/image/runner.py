"""Run a container from a stored image with the project's runtime (as the kubelet will)."""

from __future__ import annotations

import contextlib
import json
import os
import time

from minikube_py.image.buildrun import bundle_config


class Container:
    def __init__(self, store, ref: str, workdir: str, cid: str, argv: list[str] | None = None,
                 hostname: str = "mkpyt-img-pod") -> None:
        from minikube_py.runtime.client import RuntimeClient

        self.store, self.cid = store, cid
        self.client = RuntimeClient(os.path.join(workdir, "runtime"))
        image = store.resolve(ref)
        cfg = image.config
        argv = argv or [*(cfg.get("Entrypoint") or []), *(cfg.get("Cmd") or [])]
        overlay = store.prepare_rootfs(ref, cid)
        self.bundle = os.path.join(workdir, "bundle-" + cid)
        os.makedirs(os.path.join(self.bundle, "rootfs"), exist_ok=True)
        self.log = os.path.join(workdir, cid + ".log")
        config = bundle_config(argv, cfg.get("Env") or [], cfg.get("WorkingDir") or "/", 0, 0, overlay,
                               self.log, hostname=hostname)
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(config, f)
        self.created = False

    def __enter__(self) -> Container:
        self.client.create(self.cid, self.bundle)
        self.created = True
        self.client.start(self.cid)
        return self

    def wait(self, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.client.exit_info(self.cid)
            if info is not None:
                return info
            time.sleep(0.05)
        raise TimeoutError(f"container {self.cid} still running")

    def output(self) -> str:
        with open(self.log) as f:
            lines = [line for line in f.read().splitlines() if line.count(" ") >= 3]
        return "".join(line.split(" ", 3)[3] + "\n" for line in lines)   # drop "<time> stdout F "

    def __exit__(self, *exc: object) -> None:
        if self.created:
            with contextlib.suppress(Exception):
                self.client.kill(self.cid, "SIGKILL")
            self.client.delete(self.cid, force=True)
        self.store.release_rootfs(self.cid)
