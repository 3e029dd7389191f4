"""What a container gets: namespaces, filesystem, security settings (real kernel, root)."""

from __future__ import annotations

import json
import os
import re

import pytest

from minikube_py.runtime import seccomp

pytestmark = [pytest.mark.integration]


@pytest.mark.vm
def test_process_is_pid_1_and_cannot_see_host_pids(rt):
    cid = rt.run_detached(["sh", "-c", "echo pid=$$; ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '"])
    out = rt.output(cid).splitlines()
    assert out[0] == "pid=1"
    visible = {int(p) for p in out[1].split()}
    # Only the shell and its children (ls, grep, tr) exist in its pid namespace.
    assert 1 in visible and len(visible) <= 4, visible
    assert os.getpid() not in visible or os.getpid() < 5
    assert rt.exit_info(cid)["exitCode"] == 0


def test_hostname_and_uts_namespace(rt):
    cid = rt.run_detached(["hostname"], hostname="mkpyt-rt-host")
    assert rt.output(cid) == "mkpyt-rt-host"
    assert os.uname().nodename != "mkpyt-rt-host"


@pytest.mark.vm
def test_masked_paths_hide_kernel_files(rt):
    # /proc/kcore is not on every kernel; /proc/keys is: mask both and look at what exists.
    masked = ["/proc/kcore", "/proc/keys", "/proc/acpi"]
    cid = rt.run_detached(["sh", "-c", "for f in /proc/kcore /proc/keys; do [ -e $f ] && stat -c '%n %t:%T'"
                           " $f; done; wc -c < /proc/keys"], **{"linux.maskedPaths": masked})
    lines = rt.output(cid).splitlines()
    # A masked file is /dev/null bound over it: character device 1:3, reads as empty.
    assert "/proc/keys 1:3" in lines
    if os.path.exists("/proc/kcore"):
        assert "/proc/kcore 1:3" in lines
    assert lines[-1].strip() == "0"


@pytest.mark.vm
def test_proc_sys_is_read_only(rt):
    cid = rt.run_detached(["sh", "-c", "echo mkpyt > /proc/sys/kernel/hostname; echo rc=$?"])
    out = rt.output(cid)
    assert "rc=1" in out
    assert "Read-only file system" in rt.log(cid)


def test_root_readonly(rt):
    cid = rt.run_detached(["sh", "-c", "touch /mkpyt-file; echo rc=$?; touch /tmp/x; echo tmp=$?"],
                          **{"root.readonly": True})
    assert "rc=1" in rt.output(cid)


@pytest.mark.vm
def test_mount_and_unshare_fail_inside(rt):
    """Capabilities (no CAP_SYS_ADMIN) and the default seccomp profile both stop them."""
    cid = rt.run_detached(
        ["sh", "-c", "mount -t tmpfs none /tmp; echo mount=$?; unshare -m true; echo unshare=$?;"
         " grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status"],
        **{"linux.seccomp": seccomp.default_profile()})
    out = rt.output(cid)
    assert "mount=1" in out and "unshare=1" in out
    assert "CapEff:\t0000000020000420" in out  # CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE
    assert "NoNewPrivs:\t1" in out
    assert "Seccomp:\t2" in out  # filter mode


def test_seccomp_errno_rule_applies(rt):
    """A profile that refuses mkdir(at) with EPERM: the call fails although root may mkdir."""
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    cid = rt.run_detached(["sh", "-c", "mkdir /tmp/d; echo rc=$?"], **{"linux.seccomp": profile})
    assert "rc=1" in rt.output(cid)
    assert "Operation not permitted" in rt.log(cid)


def test_user_group_and_additional_gids(rt):
    cid = rt.run_detached(["id"], **{"process.user": {"uid": 65534, "gid": 65534, "additionalGids": [5, 7]}})
    out = rt.output(cid)
    assert "uid=65534" in out and "gid=65534" in out
    assert "groups=" in out and "5" in out.split("groups=")[1] and "7" in out.split("groups=")[1]


def test_rlimits_umask_cwd_env_oom_score(rt):
    cid = rt.run_detached(
        ["sh", "-c", "ulimit -n; umask; pwd; echo $GREETING; cat /proc/self/oom_score_adj"],
        **{"process.rlimits": [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 321}],
           "process.user": {"uid": 0, "gid": 0, "umask": 0o027},
           "process.cwd": "/tmp", "process.env": ["PATH=/bin", "GREETING=mkpyt-hello"],
           "process.oomScoreAdj": 123})
    assert rt.output(cid).split("\n") == ["321", "0027", "/tmp", "mkpyt-hello", "123"]


def test_sysctl_in_the_container_namespace(rt):
    cid = rt.run_detached(["cat", "/proc/sys/net/ipv4/ip_forward"],
                          **{"linux.sysctl": {"net.ipv4.ip_forward": "1"}})
    assert rt.output(cid) == "1"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host = f.read().strip()
    assert host in ("0", "1")  # untouched: it is the container's own network namespace


def _netns_holder(path: str) -> int:
    """A child in a new network namespace, bind-mounted at `path` (what `ip netns add` does)."""
    from minikube_py.kernel import shim

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            shim.unshare(shim.CLONE_NEWNET)
            open(path, "w").close()
            shim.mount("/proc/self/ns/net", path, None, shim.MS_BIND)
            os.write(w, b"1")
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.close(r)
    os.waitpid(pid, 0)
    return pid


@pytest.mark.vm
def test_joins_a_network_namespace_by_path(rt, tmp_path):
    from minikube_py.kernel import shim

    netns = str(tmp_path / "mkpyt-rt-netns")
    # The namespace lives on while the bind mount exists; the holder process is gone.
    _netns_holder(netns)
    try:
        inode = os.stat(netns).st_ino
        namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
        namespaces.append({"type": "network", "path": netns})
        cid = rt.run_detached(["readlink", "/proc/self/ns/net"], **{"linux.namespaces": namespaces})
        assert rt.output(cid) == f"net:[{inode}]"
        assert os.stat("/proc/self/ns/net").st_ino != inode
    finally:
        rt.cleanup()
        shim.umount2(netns, shim.MNT_DETACH)


def test_new_network_namespace_has_loopback_up(rt):
    cid = rt.run_detached(["sh", "-c", "cat /sys/class/net/lo/operstate; ls /sys/class/net"])
    out = rt.output(cid).split()
    assert out[0] in ("unknown", "up")  # lo reports "unknown" when up
    assert out[1:] == ["lo"]


@pytest.mark.vm
def test_user_namespace_maps_root(rt):
    cid = rt.run_detached(
        ["sh", "-c", "id -u; cat /proc/self/uid_map"],
        **{"linux.namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user")],
           "linux.uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
           "linux.gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
           "mounts": [m for m in _default_mounts() if m["type"] not in ("sysfs", "cgroup")]})
    out = rt.output(cid).split()
    assert out[0] == "0"
    assert out[1:4] == ["0", "100000", "65536"]


def _default_mounts():
    from minikube_py.runtime.spec import default_spec

    return default_spec()["mounts"]


def test_bind_mount_read_only_with_propagation(rt, tmp_path):
    shared = tmp_path / "mkpyt-rt-data"
    shared.mkdir()
    (shared / "hello.txt").write_text("from the host\n")
    mounts = [*_default_mounts(), {"destination": "/data", "type": "bind", "source": str(shared),
                                   "options": ["rbind", "ro", "rprivate"]}]
    cid = rt.run_detached(["sh", "-c", "cat /data/hello.txt; touch /data/new; echo rc=$?"],
                          **{"mounts": mounts})
    assert rt.output(cid).splitlines() == ["from the host", "rc=1"]
    assert not (shared / "new").exists()


@pytest.mark.vm
def test_overlay_annotation_is_mounted_inside_the_container_only(rt, tmp_path):
    """mkpy.io/overlay: image layers + a per-container upper dir, mounted in the container's mount ns."""
    import json

    upper, work, layer = tmp_path / "upper", tmp_path / "work", tmp_path / "layer"
    for d in (upper, work, layer / "etc"):
        d.mkdir(parents=True)
    (layer / "etc" / "motd").write_text("from the top layer\n")
    overlay = {"lower": [str(layer), str(rt.rootfs)], "upper": str(upper), "work": str(work)}
    target = tmp_path / "merged"
    target.mkdir()
    cid = rt.run_detached(["sh", "-c", "cat /etc/motd; echo written > /etc/new; ls /bin/busybox"],
                          **{"root.path": str(target), "root.readonly": False,
                             "annotations": {"mkpy.io/overlay": json.dumps(overlay)}})
    assert rt.output(cid).splitlines() == ["from the top layer", "/bin/busybox"]
    assert (upper / "etc" / "new").read_text() == "written\n"  # writes land in the upper dir
    assert not (rt.rootfs / "etc" / "new").exists() and not (layer / "etc" / "new").exists()
    assert os.listdir(target) == []  # on the host, nothing is mounted there


def test_time_namespace_with_boottime_offset(rt):
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("this kernel has no time namespaces")
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "time")]
    cid = rt.run_detached(["cat", "/proc/uptime"], **{"linux.namespaces": namespaces,
                                                      "linux.timeOffsets": {"boottime": {"secs": 864000}}})
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    assert float(rt.output(cid).split()[0]) >= host_uptime + 864000 - 60


def test_config_devices_are_created(rt):
    device = {"path": "/dev/mkpyt-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640}
    allow = {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}
    script = "stat -c '%t:%T %a' /dev/mkpyt-zero; head -c 3 /dev/mkpyt-zero | wc -c"
    cid = rt.run_detached(["sh", "-c", script],
                          **{"linux.devices": [device], "linux.resources": {"devices": [allow]}})
    assert rt.output(cid).split("\n") == ["1:5 640", "3"]


# Runs in a throwaway mount namespace (`unshare -m`, all private), so nothing here can reach
# the host's mounts: there $VOL becomes a shared mount of its own, the container gets it as
# /vol, a tmpfs mounted on $VOL/late after start shows whether host->container propagation
# works, and one the container mounts on /vol/inner whether container->host does.
PROPAGATION_SCRIPT = r"""
set -e
mount --bind "$VOL" "$VOL"
mount --make-shared "$VOL"
mkdir -p "$VOL/late" "$VOL/inner"
$CLI create --bundle "$BUNDLE" "$CID"
$CLI start "$CID"
mount -t tmpfs mkpyt-rt-late "$VOL/late"
echo "--- container"
$CLI exec "$CID" cat /proc/self/mountinfo
echo "--- container mounts"
$CLI exec "$CID" sh -c 'mount -t tmpfs mkpyt-rt-inner /vol/inner && echo mounted'
echo "--- outside"
cat /proc/self/mountinfo
$CLI delete --force "$CID"
"""


def _propagation(line: str) -> set[str]:
    """The optional fields of a mountinfo line: {"shared", "master"} or a subset."""
    fields = line.split()
    return {f.split(":")[0] for f in fields[6:fields.index("-")]}


@pytest.mark.vm
@pytest.mark.parametrize(("root_propagation", "vol_option", "root_has", "vol_has", "late_in", "inner_out"), [
    (None, "rslave", set(), {"master"}, True, False),          # the default: host -> container only
    ("private", "rprivate", set(), set(), False, False),       # nothing crosses either way
    ("shared", "rshared", {"shared"}, {"shared"}, True, True),   # Bidirectional: both ways
])
def test_rootfs_propagation_and_mount_propagation_flags(rt, tmp_path, root_propagation, vol_option,
                                                        root_has, vol_has, late_in, inner_out):
    import subprocess
    import sys

    vol = tmp_path / "vol"
    vol.mkdir()
    caps = ["CAP_SYS_ADMIN", "CAP_KILL"]  # to mount inside (the container->host direction)
    cid, bundle = rt.bundle(
        ["sleep", "1000"],
        **{"linux.rootfsPropagation": root_propagation,
           "process.capabilities": {k: caps for k in ("bounding", "effective", "permitted")}},
    )
    config = json.loads((bundle / "config.json").read_text())
    config["mounts"].append({"destination": "/vol", "type": "bind", "source": str(vol),
                             "options": ["rbind", vol_option]})
    (bundle / "config.json").write_text(json.dumps(config))
    cli = f"{sys.executable} -m minikube_py.runtime.cli --root {rt.root}"
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", PROPAGATION_SCRIPT],
                          env={**os.environ, "VOL": str(vol), "BUNDLE": str(bundle), "CID": cid, "CLI": cli},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    _, inside, mounted, outside = re.split(r"--- (?:container mounts|container|outside)\n", done.stdout)
    lines = inside.splitlines()
    root = next(ln for ln in lines if ln.split()[4] == "/")
    assert _propagation(root) == root_has, root
    vol_line = next(ln for ln in lines if ln.split()[4] == "/vol")
    assert _propagation(vol_line) == vol_has, vol_line
    assert any(ln.split()[4] == "/vol/late" and "mkpyt-rt-late" in ln for ln in lines) == late_in, inside
    assert mounted.strip() == "mounted"
    assert any(ln.split()[4] == f"{vol}/inner" and "mkpyt-rt-inner" in ln
               for ln in outside.splitlines()) == inner_out, outside
