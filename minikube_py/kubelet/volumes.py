"""Pod volumes: what to prepare on the host, and what each container mounts.

Planning is pure: `plan_volumes(pod, ...)` returns, per volume, the host directory
and the steps that make it (mkdir, a tmpfs, files to write, a hostPath check).
`VolumeManager.setup()` carries the steps out (mounts through the syscall facade),
`teardown()` undoes them. Layout and behaviour follow kubelet's volume plugins:
  <pods root>/<uid>/volumes/kubernetes.io~<plugin>/<name>
  emptyDir          a directory (0777); medium: Memory -> a tmpfs, sized by sizeLimit
  hostPath          the host path itself, checked/created per `type`
  configMap/secret  files from the object's keys (or `items`), with defaultMode/mode,
  projected,        written atomically like kubelet's AtomicWriter:
  downwardAPI         ..<timestamp>/ + ..data -> it + one symlink per top-level entry.
                    secret and projected volumes are always on a tmpfs (never on disk).
Containers mount them (bind) at mountPath; configMap/secret/projected/downwardAPI are
always read-only, as in Kubernetes.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from minikube_py.kubelet import quantity
from minikube_py.kubelet.command import DictObjects, EnvContext, ObjectSource, field_ref, resource_field_ref


class VolumeError(Exception):
    """A volume cannot be set up (reported as a FailedMount event; the pod keeps waiting)."""


PLUGIN_DIRS = {"emptyDir": "kubernetes.io~empty-dir", "configMap": "kubernetes.io~configmap",
               "secret": "kubernetes.io~secret", "projected": "kubernetes.io~projected",
               "downwardAPI": "kubernetes.io~downward-api"}
READ_ONLY_KINDS = ("configMap", "secret", "projected", "downwardAPI")


@dataclass
class VolumePlan:
    name: str
    kind: str
    host_path: str
    tmpfs: bool = False
    tmpfs_size: int | None = None
    mode: int = 0o777
    files: dict[str, tuple[bytes, int]] | None = None     # relative path -> (content, mode)
    hostpath_type: str | None = None                       # set for hostPath volumes


@dataclass
class _Files:
    out: dict[str, tuple[bytes, int]] = field(default_factory=dict)


def _fail(vol: str, msg: str) -> VolumeError:
    return VolumeError(f'MountVolume.SetUp failed for volume "{vol}" : {msg}')


def _keyed_files(vol: str, kind: str, obj_name: str, data: dict[str, bytes], items: list | None,
                 default_mode: int, optional: bool, files: dict[str, tuple[bytes, int]]) -> None:
    if not items:
        for k, v in data.items():
            files[k] = (v, default_mode)
        return
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            raise _fail(vol, f"{kind} references non-existent {kind} key: {item['key']}")
        files[item["path"]] = (data[item["key"]], item.get("mode", default_mode))


def _configmap_bytes(cm: dict) -> dict[str, bytes]:
    out = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
    return out


def _secret_bytes(s: dict) -> dict[str, bytes]:
    out = {k: base64.b64decode(v) for k, v in (s.get("data") or {}).items()}
    out.update({k: v.encode() for k, v in (s.get("stringData") or {}).items()})
    return out


def _downward_files(vol: str, pod: dict, items: list, default_mode: int, ctx: EnvContext,
                    files: dict[str, tuple[bytes, int]]) -> None:
    for item in items or []:
        if item.get("fieldRef"):
            val = field_ref(pod, item["fieldRef"]["fieldPath"], ctx)
        elif item.get("resourceFieldRef"):
            ref = item["resourceFieldRef"]
            val = resource_field_ref(pod, ref.get("containerName", ""), ref, ctx)
        else:
            raise _fail(vol, f"downwardAPI item {item.get('path')!r} has no fieldRef")
        files[item["path"]] = (val.encode(), item.get("mode", default_mode))


def plan_volumes(pod: dict, pods_root: str, objects: ObjectSource | None = None,
                 ctx: EnvContext | None = None,
                 pvc_resolver: Callable[[str, str], str | None] | None = None) -> dict[str, VolumePlan]:
    """Plan every volume of the pod. Raises VolumeError (FailedMount) for missing objects."""
    objects = objects or DictObjects()
    ctx = ctx or EnvContext(pod=pod, objects=objects)
    uid = pod["metadata"]["uid"]
    ns = pod["metadata"].get("namespace", "default")
    base = os.path.join(pods_root, uid, "volumes")
    plans: dict[str, VolumePlan] = {}
    for vol in pod["spec"].get("volumes") or []:
        name = vol["name"]
        kind = next(k for k in ("emptyDir", "hostPath", "configMap", "secret", "projected", "downwardAPI",
                                "persistentVolumeClaim") if vol.get(k) is not None)
        src = vol[kind]
        if kind == "hostPath":
            plans[name] = VolumePlan(name, kind, src["path"], hostpath_type=src.get("type", ""))
            continue
        if kind == "persistentVolumeClaim":
            path = pvc_resolver(ns, src["claimName"]) if pvc_resolver else None
            if not path:
                claim = src["claimName"]
                raise _fail(name, f'persistentvolumeclaim "{claim}" is not bound to a local volume')
            plans[name] = VolumePlan(name, kind, path, hostpath_type="Directory")
            continue
        host = os.path.join(base, PLUGIN_DIRS[kind], name)
        if kind == "emptyDir":
            memory = src.get("medium") == "Memory"
            size = quantity.value(src["sizeLimit"]) if src.get("sizeLimit") else None
            plans[name] = VolumePlan(name, kind, host, tmpfs=memory, tmpfs_size=size)
            continue
        files: dict[str, tuple[bytes, int]] = {}
        mode = src.get("defaultMode", 0o644)
        if kind == "configMap":
            cm = objects.get_configmap(ns, src["name"])
            if cm is None and not src.get("optional"):
                raise _fail(name, f'configmap "{src["name"]}" not found')
            _keyed_files(name, "configmap", src["name"], _configmap_bytes(cm or {}), src.get("items"), mode,
                         bool(src.get("optional")), files)
        elif kind == "secret":
            s = objects.get_secret(ns, src["secretName"])
            if s is None and not src.get("optional"):
                raise _fail(name, f'secret "{src["secretName"]}" not found')
            _keyed_files(name, "secret", src["secretName"], _secret_bytes(s or {}), src.get("items"), mode,
                         bool(src.get("optional")), files)
        elif kind == "downwardAPI":
            _downward_files(name, pod, src.get("items"), mode, ctx, files)
        else:   # projected: several sources into one directory
            for source in src.get("sources") or []:
                if source.get("configMap"):
                    ref = source["configMap"]
                    cm = objects.get_configmap(ns, ref["name"])
                    if cm is None and not ref.get("optional"):
                        raise _fail(name, f'configmap "{ref["name"]}" not found')
                    _keyed_files(name, "configmap", ref["name"], _configmap_bytes(cm or {}), ref.get("items"),
                                 mode, bool(ref.get("optional")), files)
                elif source.get("secret"):
                    ref = source["secret"]
                    s = objects.get_secret(ns, ref["name"])
                    if s is None and not ref.get("optional"):
                        raise _fail(name, f'secret "{ref["name"]}" not found')
                    _keyed_files(name, "secret", ref["name"], _secret_bytes(s or {}), ref.get("items"), mode,
                                 bool(ref.get("optional")), files)
                elif source.get("downwardAPI"):
                    _downward_files(name, pod, source["downwardAPI"].get("items"), mode, ctx, files)
        plans[name] = VolumePlan(name, kind, host, tmpfs=kind in ("secret", "projected"),
                                 mode=0o755, files=files)
    return plans


def container_mounts(container: dict, plans: dict[str, VolumePlan]) -> list[dict]:
    """OCI bind mounts for a container's volumeMounts."""
    mounts = []
    for vm in container.get("volumeMounts") or []:
        plan = plans[vm["name"]]
        source = plan.host_path
        if vm.get("subPath"):
            source = os.path.join(source, vm["subPath"])
        ro = bool(vm.get("readOnly")) or plan.kind in READ_ONLY_KINDS
        mounts.append({"destination": vm["mountPath"], "type": "bind", "source": source,
                       "options": ["rbind", "rprivate", "ro" if ro else "rw"]})
    return mounts


# ------------------------------------------------------------------ carrying a plan out
_TYPE_CHECKS = {
    "Directory": (stat.S_ISDIR, "is not a directory"),
    "File": (stat.S_ISREG, "is not a file"),
    "Socket": (stat.S_ISSOCK, "is not a socket file"),
    "CharDevice": (stat.S_ISCHR, "is not a character device"),
    "BlockDevice": (stat.S_ISBLK, "is not a block device"),
}


def check_host_path(name: str, path: str, type_: str) -> None:
    """hostPath `type` semantics: *OrCreate makes the path; the others must already be that kind."""
    if type_ == "DirectoryOrCreate":
        if not os.path.exists(path):
            os.makedirs(path, 0o755, exist_ok=True)
        type_ = "Directory"
    elif type_ == "FileOrCreate":
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path) or "/", 0o755, exist_ok=True)
            with open(path, "a"):
                pass
            os.chmod(path, 0o644)
        type_ = "File"
    if not type_:
        return
    is_kind, msg = _TYPE_CHECKS[type_]
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _fail(name, f"hostPath type check failed: {path} {msg}") from None
    if not is_kind(st.st_mode):
        raise _fail(name, f"hostPath type check failed: {path} {msg}")


def write_atomic(directory: str, files: dict[str, tuple[bytes, int]], owner: tuple[int, int] | None = None
                 ) -> None:
    """kubelet's AtomicWriter: a new ..<timestamp> dir, then ..data is swapped to it with one
    rename, so a reader never sees half an update; top-level names are links through ..data."""
    stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    tsdir = os.path.join(directory, stamp)
    os.makedirs(tsdir, 0o755)
    for rel, (content, mode) in files.items():
        path = os.path.join(tsdir, rel)
        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, mode)
        if owner:
            os.chown(path, *owner)
    tmp_link = os.path.join(directory, "..data_tmp")
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(stamp, tmp_link)
    old = os.readlink(os.path.join(directory, "..data")) if os.path.islink(
        os.path.join(directory, "..data")) else None
    os.rename(tmp_link, os.path.join(directory, "..data"))
    tops = {rel.split("/", 1)[0] for rel in files}
    for top in tops:
        link = os.path.join(directory, top)
        if not os.path.lexists(link):
            os.symlink(os.path.join("..data", top), link)
    for entry in os.listdir(directory):
        stale = not entry.startswith("..") and entry not in tops
        if stale and os.path.islink(os.path.join(directory, entry)):
            os.unlink(os.path.join(directory, entry))
    if old and old != stamp:
        shutil.rmtree(os.path.join(directory, old), ignore_errors=True)


def is_mountpoint(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == real for line in f)


class VolumeManager:
    """Sets up and tears down a pod's planned volumes on the host."""

    def __init__(self, sys) -> None:   # a Syscalls or FakeSyscalls
        self.sys = sys

    def setup(self, plans: dict[str, VolumePlan]) -> None:
        for plan in plans.values():
            if plan.hostpath_type is not None:
                check_host_path(plan.name, plan.host_path, plan.hostpath_type)
                continue
            if not os.path.isdir(plan.host_path):
                os.makedirs(plan.host_path, exist_ok=True)
                os.chmod(plan.host_path, plan.mode)     # makedirs' mode is cut by the umask
            if plan.tmpfs and not is_mountpoint(plan.host_path):
                data = f"mode={plan.mode:o}" + (f",size={plan.tmpfs_size}" if plan.tmpfs_size else "")
                self.sys.mount("tmpfs", plan.host_path, "tmpfs", 0, data,
                               why=f"{plan.kind} volume {plan.name} lives in memory only")
            if plan.files is not None:
                write_atomic(plan.host_path, plan.files)

    def teardown(self, pod_dir_volumes: str) -> None:
        """Unmount every tmpfs under <pod>/volumes, then remove the tree."""
        if not os.path.isdir(pod_dir_volumes):
            return
        real = os.path.realpath(pod_dir_volumes)
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for point in sorted((p for p in points if p.startswith(real + "/")), key=len, reverse=True):
            self.sys.umount2(point, 0, why="pod volume no longer needed")
        shutil.rmtree(pod_dir_volumes, ignore_errors=True)
