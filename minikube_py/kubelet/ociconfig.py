"""The OCI runtime config (config.json) for one container of a pod.

This is the kubelet + CRI runtime's job (kuberuntime_container.go and containerd's
container_create_linux.go): turn a Kubernetes container into an OCI bundle config.
It joins the pod sandbox's network, IPC and UTS namespaces, gets its own PID and mount
namespaces, runs in the pod's cgroup, and has the securityContext applied:
runAsUser/runAsGroup, runAsNonRoot (checked here), readOnlyRootFilesystem,
capabilities add/drop, privileged, allowPrivilegeEscalation (false -> noNewPrivileges).
The image's rootfs is not mounted here: `mkpy.io/overlay` asks the runtime to mount
it inside the container's own mount namespace; `mkpy.io/log-path` is where the
runtime's monitor writes the CRI-format log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from minikube_py.kubelet import qos
from minikube_py.kubelet.command import ContainerConfigError
from minikube_py.runtime.spec import (
    CONSOLE_ANNOTATION,
    CONSOLE_MONITOR,
    STDIN_ANNOTATION,
    STDIN_ONCE_ANNOTATION,
)

OCI_VERSION = "1.0.2"

# containerd's default capability set (the same as Docker's).
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
ALL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
            "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
            "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
            "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
            "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
            "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
            "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE"]
MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
]

LOG_ROOT = "/var/log/pods"


def pod_log_dir(pod: dict, log_root: str = LOG_ROOT) -> str:
    m = pod["metadata"]
    return os.path.join(log_root, f"{m.get('namespace', 'default')}_{m['name']}_{m.get('uid', '')}")


def container_log_path(pod: dict, container_name: str, restart: int, log_root: str = LOG_ROOT) -> str:
    """/var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log, as kubelet names it."""
    return os.path.join(pod_log_dir(pod, log_root), container_name, f"{restart}.log")


def capability_name(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") else "CAP_" + name


def effective_security(pod: dict, container: dict) -> dict:
    """Container securityContext over the pod's (runAsUser/Group/NonRoot are inherited)."""
    merged = {k: v for k, v in (pod["spec"].get("securityContext") or {}).items()
              if k in ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile")}
    merged.update(container.get("securityContext") or {})
    return merged


def capabilities(sc: dict) -> list[str]:
    if sc.get("privileged"):
        return list(ALL_CAPS)
    caps = (sc.get("capabilities") or {})
    drop = {capability_name(c) for c in caps.get("drop") or []}
    add = [capability_name(c) for c in caps.get("add") or []]
    base = [] if "CAP_ALL" in drop else [c for c in DEFAULT_CAPS if c not in drop]
    if "CAP_ALL" in add:
        return list(ALL_CAPS)
    return base + [c for c in add if c not in base]


def resolve_user(pod: dict, container: dict, image_user: str,
                 lookup: Callable[[str], tuple[int, int] | None] | None = None) -> tuple[int, int]:
    """(uid, gid) the process runs as; enforces runAsNonRoot like kubelet's verifyRunAsNonRoot."""
    sc = effective_security(pod, container)
    name = pod["metadata"]["name"]
    uid: int | None = sc.get("runAsUser")
    gid: int | None = sc.get("runAsGroup")
    user, _, group = (image_user or "").partition(":")
    img_uid: int | None = 0 if not user else (int(user) if user.isdigit() else None)
    img_gid: int | None = int(group) if group.isdigit() else None
    if img_uid is None and lookup:
        found = lookup(user)
        if found is None:
            raise ContainerConfigError(f"unable to find user {user}: no matching entries in passwd file")
        img_uid, pw_gid = found
        img_gid = img_gid if img_gid is not None else pw_gid
    if uid is None:
        uid = img_uid
    if sc.get("runAsNonRoot"):
        if uid is None:
            raise ContainerConfigError(f"container has runAsNonRoot and image has non-numeric user "
                                       f"({user}), cannot verify user is non-root (pod: \"{name}\", "
                                       f"container: {container['name']})")
        if uid == 0:
            raise ContainerConfigError(f"container has runAsNonRoot and image will run as root "
                                       f"(pod: \"{name}\", container: {container['name']})")
    if uid is None:
        raise ContainerConfigError(f"unable to resolve image user {user!r}")
    if gid is None:
        gid = img_gid if img_gid is not None else 0
    return uid, gid


@dataclass
class ContainerContext:
    """Everything besides the pod and container that shapes the config."""
    container_id: str
    attempt: int
    argv: list[str]
    env: list[str]                      # KEY=VALUE, already merged with the image's
    image_config: dict
    rootfs: str                         # bundle/rootfs (the runtime mounts the overlay there)
    overlay: dict | None = None         # ImageStore.prepare_rootfs() result
    netns_path: str | None = None       # None: share the netns the runtime runs in
    ipc_path: str | None = None         # the sandbox's namespaces (/proc/<infra>/ns/ipc)
    uts_path: str | None = None
    mounts: list[dict] = field(default_factory=list)   # volumes + /etc/hosts & co.
    log_path: str = ""
    memory_capacity: int = 1 << 30
    user_lookup: Callable[[str], tuple[int, int] | None] | None = None
    seccomp_default: Callable[[list[str]], dict] | None = None   # caps -> the RuntimeDefault profile
    extra_annotations: dict[str, str] = field(default_factory=dict)


def container_config(pod: dict, container: dict, ctx: ContainerContext) -> dict:
    sc = effective_security(pod, container)
    uid, gid = resolve_user(pod, container, ctx.image_config.get("User", ""), ctx.user_lookup)
    pod_sc = pod["spec"].get("securityContext") or {}
    groups = list(pod_sc.get("supplementalGroups") or [])
    if pod_sc.get("fsGroup") is not None:
        groups.append(pod_sc["fsGroup"])
    caps = capabilities(sc)
    privileged = bool(sc.get("privileged"))
    process = {
        "terminal": bool(container.get("tty")),
        "user": {"uid": uid, "gid": gid, **({"additionalGids": groups} if groups else {})},
        "args": ctx.argv,
        "env": ctx.env,
        "cwd": container.get("workingDir") or ctx.image_config.get("WorkingDir") or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        # kubelet sets no_new_privs only when allowPrivilegeEscalation is explicitly false.
        "noNewPrivileges": sc.get("allowPrivilegeEscalation") is False,
        "oomScoreAdj": qos.oom_score_adj(pod, container, ctx.memory_capacity),
    }
    namespaces: list[dict] = [{"type": "pid"}, {"type": "mount"}]
    for kind, path in (("network", ctx.netns_path), ("ipc", ctx.ipc_path), ("uts", ctx.uts_path)):
        if path:
            namespaces.append({"type": kind, "path": path})
        elif kind != "network":
            namespaces.append({"type": kind})
    linux: dict = {
        "namespaces": namespaces,
        "resources": qos.container_resources(container),
        "cgroupsPath": qos.container_cgroup_path(pod, ctx.container_id),
    }
    if not privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    profile = (sc.get("seccompProfile") or {}).get("type", "Unconfined")
    if profile == "RuntimeDefault" and not privileged and ctx.seccomp_default:
        linux["seccomp"] = ctx.seccomp_default(caps)
    mounts = [dict(m) for m in DEFAULT_MOUNTS]
    if privileged:
        mounts[-1]["options"] = ["nosuid", "noexec", "nodev", "rw"]   # /sys writable when privileged
    mounts.extend(ctx.mounts)
    meta = pod["metadata"]
    annotations = {
        "io.kubernetes.pod.name": meta["name"],
        "io.kubernetes.pod.namespace": meta.get("namespace", "default"),
        "io.kubernetes.pod.uid": meta.get("uid", ""),
        "io.kubernetes.container.name": container["name"],
        "io.kubernetes.container.restartCount": str(ctx.attempt),
        "io.kubernetes.cri.container-type": "container",
        **ctx.extra_annotations,
    }
    if ctx.overlay is not None:
        annotations["mkpy.io/overlay"] = json.dumps(ctx.overlay)
    if ctx.log_path:
        annotations["mkpy.io/log-path"] = ctx.log_path
    if container.get("stdin"):
        # The monitor keeps the container's stdin open for `kubectl attach -i` (runtime/spec.py).
        annotations[STDIN_ANNOTATION] = "true"
        if container.get("stdinOnce"):
            annotations[STDIN_ONCE_ANNOTATION] = "true"
    if container.get("tty"):
        # No one listens on a --console-socket for the container's whole life but its monitor.
        annotations[CONSOLE_ANNOTATION] = CONSOLE_MONITOR
    return {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": ctx.rootfs, "readonly": bool(sc.get("readOnlyRootFilesystem"))},
        "mounts": mounts,
        "linux": linux,
        "annotations": annotations,
    }


def bind_mount(source: str, destination: str, readonly: bool = False) -> dict:
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "rprivate", "ro" if readonly else "rw"]}
