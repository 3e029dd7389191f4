"""Reading and checking an OCI bundle's config.json, and the default one (`spec`).

The runtime refuses a config it cannot apply *before* it creates anything, so a
bad value never leaves a half-made container. Messages name the field, the way
runc does: `config.json: process.args: must be a non-empty list of strings`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from minikube_py.runtime.errors import ContainerError

OCI_VERSION = "1.0.2"

# OCI namespace type -> the name of its file under /proc/PID/ns/.
NAMESPACE_FILES = {
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
    "user": "user", "cgroup": "cgroup", "time": "time",
}

# A container whose stdin an attach can write to (Kubernetes' `stdin`/`stdinOnce`): its monitor
# holds the stdin pipe and takes the bytes on a unix socket of this name in the state directory.
STDIN_ANNOTATION = "mkpy.io/stdin"
STDIN_ONCE_ANNOTATION = "mkpy.io/stdin-once"
ATTACH_SOCKET = "attach"
# process.terminal with no --console-socket: the monitor itself receives and holds the pty master
# (conmon's role for Kubernetes' `tty: true`), logging the terminal's output and feeding it stdin.
CONSOLE_ANNOTATION = "mkpy.io/console"
CONSOLE_MONITOR = "monitor"
HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def _fail(field: str, why: str) -> ContainerError:
    return ContainerError(f"config.json: {field}: {why}")


def load(bundle: str) -> dict[str, Any]:
    """Read <bundle>/config.json, check it, and make root.path absolute."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            config = json.load(f)
    except FileNotFoundError:
        raise ContainerError(f"bundle {bundle!r}: no config.json") from None
    except json.JSONDecodeError as exc:
        raise ContainerError(f"config.json: not valid JSON: {exc}") from None
    validate(config)
    root = config["root"]["path"]
    config["root"]["path"] = os.path.normpath(os.path.join(os.path.abspath(bundle), root))
    if not os.path.isdir(config["root"]["path"]):
        raise _fail("root.path", f"{config['root']['path']} is not a directory")
    return config


def validate(config: dict[str, Any]) -> None:
    """Check every field the runtime reads; raise ContainerError naming the first bad one."""
    if not isinstance(config, dict):
        raise _fail("(top level)", "must be a JSON object")
    if not isinstance(config.get("ociVersion"), str):
        raise _fail("ociVersion", "missing or not a string")
    root = config.get("root")
    if not isinstance(root, dict) or not isinstance(root.get("path"), str) or not root["path"]:
        raise _fail("root.path", "missing")
    proc = config.get("process")
    if not isinstance(proc, dict):
        raise _fail("process", "missing")
    args = proc.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise _fail("process.args", "must be a non-empty list of strings")
    cwd = proc.get("cwd", "/")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise _fail("process.cwd", f"must be an absolute path, got {cwd!r}")
    for i, e in enumerate(proc.get("env") or []):
        if not isinstance(e, str) or "=" not in e:
            raise _fail(f"process.env[{i}]", f"must be KEY=VALUE, got {e!r}")
    user = proc.get("user") or {}
    for key in ("uid", "gid"):
        if not isinstance(user.get(key, 0), int) or user.get(key, 0) < 0:
            raise _fail(f"process.user.{key}", "must be a non-negative integer")
    adj = proc.get("oomScoreAdj")
    if adj is not None and (not isinstance(adj, int) or not -1000 <= adj <= 1000):
        raise _fail("process.oomScoreAdj", f"must be an integer in [-1000, 1000], got {adj!r}")
    linux = config.get("linux") or {}
    seen = set()
    for i, ns in enumerate(linux.get("namespaces") or []):
        kind = ns.get("type")
        if kind not in NAMESPACE_FILES:
            raise _fail(f"linux.namespaces[{i}].type", f"unknown namespace type {kind!r}")
        if kind in seen:
            raise _fail(f"linux.namespaces[{i}].type", f"namespace {kind!r} given twice")
        seen.add(kind)
        if ns.get("path") and not os.path.exists(ns["path"]):
            raise _fail(f"linux.namespaces[{i}].path", f"{ns['path']} does not exist")
    new_user = "user" in seen and not any(ns.get("path") for ns in linux["namespaces"]
                                          if ns["type"] == "user")
    if new_user and (not linux.get("uidMappings") or not linux.get("gidMappings")):
        raise _fail("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")
    for i, m in enumerate(config.get("mounts") or []):
        dest = m.get("destination")
        if not isinstance(dest, str) or not dest.startswith("/"):
            raise _fail(f"mounts[{i}].destination", f"must be an absolute path, got {dest!r}")
    for stage, hooks in (config.get("hooks") or {}).items():
        if stage not in HOOK_STAGES:
            raise _fail(f"hooks.{stage}", "unknown hook stage")
        for i, h in enumerate(hooks or []):
            if not isinstance(h.get("path"), str) or not h["path"].startswith("/"):
                raise _fail(f"hooks.{stage}[{i}].path", "must be an absolute path")
    for name, value in (linux.get("sysctl") or {}).items():
        if not isinstance(value, str) or ".." in name or "/" in name:
            raise _fail(f"linux.sysctl.{name}", "bad name or value (value must be a string)")
    overlay = (config.get("annotations") or {}).get("mkpy.io/overlay")
    if overlay is not None:
        overlay_from_annotation(overlay)


def overlay_from_annotation(text: str) -> dict[str, Any]:
    """The `mkpy.io/overlay` annotation: JSON {"lower": [dirs, top first], "upper": dir, "work": dir}."""
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        raise _fail("annotations.mkpy.io/overlay", "must be a JSON object as a string") from None
    if not isinstance(value, dict) or not isinstance(value.get("lower"), list) or not value["lower"]:
        raise _fail("annotations.mkpy.io/overlay", "needs a non-empty \"lower\" list")
    for key in ("upper", "work"):
        if not isinstance(value.get(key), str):
            raise _fail(f"annotations.mkpy.io/overlay.{key}", "missing")
    return value


def namespaces(config: dict[str, Any]) -> list[dict[str, str]]:
    return list((config.get("linux") or {}).get("namespaces") or [])


def default_spec(terminal: bool = True) -> dict[str, Any]:
    """What `mkpy runtime spec` writes: runc's default, a busybox `sh` in every new namespace."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "mkpy",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
