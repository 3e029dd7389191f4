"""RUN steps of a build: the command runs in a container of the project's own runtime.

The container's root is an overlay of the layers built so far plus an empty
upper directory; whatever the command writes lands in the upper directory, and
that directory (its overlay whiteouts turned back into OCI ones) becomes the
step's layer. The runtime is driven through `minikube_py.runtime.client.RuntimeClient`,
the same contract the kubelet uses: create, start, wait for the exit file, delete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time

from minikube_py.image.dockerfile import Instruction

DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def bundle_config(argv: list[str], env: list[str], cwd: str, uid: int, gid: int, overlay: dict,
                  log_path: str, hostname: str = "mkpy-build") -> dict:
    """The OCI runtime config.json for one build step."""
    caps = {k: list(DEFAULT_CAPS) for k in ("bounding", "effective", "permitted")}
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": uid, "gid": gid}, "args": argv, "env": env,
                    "cwd": cwd or "/", "capabilities": caps, "noNewPrivileges": True},
        "root": {"path": "rootfs", "readonly": False},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "mount", "ipc", "uts", "network")]},
        "annotations": {"mkpy.io/overlay": json.dumps(overlay), "mkpy.io/log-path": log_path},
    }


def _user(builder, state, inst: Instruction) -> tuple[int, int]:
    spec = state.run_config.get("User") or "0"
    return builder.owner(state, inst, spec)


def run_step(builder, state, inst: Instruction, env: dict[str, str]) -> str:
    try:
        from minikube_py.runtime.client import RuntimeClient
    except ImportError:
        raise inst.error("RUN needs the project's container runtime (minikube_py.runtime), "
                         "which this checkout does not have") from None
    store = builder.store
    argv = inst.exec_form if inst.exec_form is not None else ["/bin/sh", "-c", inst.raw]
    # ARG values are in RUN's environment (not in the image); ENV values are in both.
    run_env = {**builder.args}
    for item in state.run_config.get("Env") or []:
        k, _, v = item.partition("=")
        run_env[k] = v
    uid, gid = _user(builder, state, inst)
    lower = [store.unpack_layer(d, i) for d, i in zip(state.layers, state.config["rootfs"]["diff_ids"],
                                                       strict=True)]
    work = tempfile.mkdtemp(prefix="build-", dir=store.dir)
    cid = "mkpy-build-" + os.path.basename(work).removeprefix("build-").lower().replace("_", "")
    client = RuntimeClient(os.path.join(work, "runtime"))
    created = False
    try:
        upper, ovl_work, bundle = (os.path.join(work, d) for d in ("upper", "work", "bundle"))
        for d in (upper, ovl_work, os.path.join(bundle, "rootfs")):
            os.makedirs(d)
        if not lower:
            lower = [os.path.join(work, "empty")]
            os.makedirs(lower[0])
        overlay = {"lower": list(reversed(lower)), "upper": upper, "work": ovl_work}
        log_path = os.path.join(work, "run.log")
        config = bundle_config(argv, [f"{k}={v}" for k, v in run_env.items()],
                               state.run_config.get("WorkingDir") or "/", uid, gid, overlay, log_path)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        client.create(cid, bundle)
        created = True
        client.start(cid)
        exit_code = _wait(client, cid, log_path, builder.out)
        if exit_code != 0:
            raise inst.error(f"the command {argv} returned a non-zero code: {exit_code}")
        builder.add_layer(state, upper, {}, owner=None)   # files a RUN made keep their owners
        return "layer"
    finally:
        if created:
            with contextlib.suppress(Exception):
                client.delete(cid, force=True)
        shutil.rmtree(work, ignore_errors=True)


def _wait(client, cid: str, log_path: str, out) -> int:
    """Stream the container's log (CRI format) to out until the monitor writes the exit file."""
    offset = 0

    def pump() -> None:
        nonlocal offset
        with contextlib.suppress(FileNotFoundError), open(log_path, "rb") as f:
            f.seek(offset)
            data = f.read()
            end = data.rfind(b"\n") + 1
            offset += end
            for line in data[:end].decode(errors="replace").splitlines():
                parts = line.split(" ", 3)
                out(" " + (parts[3] if len(parts) == 4 else line))

    while True:
        info = client.exit_info(cid)
        pump()
        if info is not None:
            pump()
            return int(info.get("exitCode", 1 if info.get("signal") else 0))
        time.sleep(0.05)
