"""The runtime above the syscall facade: config checks, mount options, rootfs order, state, client."""

from __future__ import annotations

import json
import os
import re
import signal
import sys

import pytest

from minikube_py.kernel import shim
from minikube_py.kernel.fake import FakeSyscalls
from minikube_py.runtime import channel, rootfs, spec
from minikube_py.runtime.client import RuntimeClient
from minikube_py.runtime.container import parse_signal
from minikube_py.runtime.errors import ContainerError
from minikube_py.runtime.exec import exec_process
from minikube_py.runtime.process import namespace_plan
from minikube_py.runtime.state import StateDir, pid_is, pid_start_time


def _config(**changes):
    config = spec.default_spec(terminal=False)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return config


# ---------------------------------------------------------------- config.json
def test_default_spec_is_valid():
    spec.validate(spec.default_spec())


@pytest.mark.parametrize("changes, field", [
    ({"process.args": []}, "process.args"),
    ({"process.cwd": "relative"}, "process.cwd"),
    ({"process.env": ["NOEQUALS"]}, "process.env[0]"),
    ({"process.user": {"uid": -1}}, "process.user.uid"),
    ({"process.oomScoreAdj": 5000}, "process.oomScoreAdj"),
    ({"linux.namespaces": [{"type": "bogus"}]}, "linux.namespaces[0].type"),
    ({"linux.namespaces": [{"type": "pid"}, {"type": "pid"}]}, "linux.namespaces[1].type"),
    ({"linux.namespaces": [{"type": "user"}]}, "linux.uidMappings"),
    ({"mounts": [{"destination": "relative"}]}, "mounts[0].destination"),
    ({"hooks": {"prestart": [{"path": "rel"}]}}, "hooks.prestart[0].path"),
    ({"hooks": {"whenever": []}}, "hooks.whenever"),
    ({"annotations": {"mkpy.io/overlay": "{\"lower\": []}"}}, "annotations.mkpy.io/overlay"),
    ({"linux.sysctl": {"kernel.x": 1}}, "linux.sysctl.kernel.x"),
])
def test_bad_config_names_the_field(changes, field):
    with pytest.raises(ContainerError, match=re.escape(f"config.json: {field}:")):
        spec.validate(_config(**changes))


def test_load_makes_root_path_absolute(tmp_path):
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(spec.default_spec()))
    assert spec.load(str(tmp_path))["root"]["path"] == str(tmp_path / "rootfs")
    (tmp_path / "rootfs").rmdir()
    with pytest.raises(ContainerError, match=r"root\.path"):
        spec.load(str(tmp_path))


# ---------------------------------------------------------------- mounts
def test_mount_options_split_into_flags_propagation_and_data():
    options = ["nosuid", "ro", "rw", "noexec", "rslave", "mode=755", "size=1m"]
    flags, prop, data = rootfs.parse_options(options)
    assert flags == shim.MS_NOSUID | shim.MS_NOEXEC  # "rw" after "ro" clears it
    assert prop == shim.MS_SLAVE | shim.MS_REC
    assert data == "mode=755,size=1m"


def test_inside_keeps_symlinks_in_the_rootfs(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "evil").symlink_to("/etc")          # absolute: must mean the rootfs's /etc
    (root / "up").symlink_to("../../../..")      # climbing out must stop at the rootfs
    assert rootfs.inside(str(root), "/evil/passwd") == str(root / "etc" / "passwd")
    assert rootfs.inside(str(root), "/up/etc") == str(root / "etc")


def test_prepare_order_slave_root_mounts_hooks_then_pivot(tmp_path):
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    config = _config(**{"root.path": str(root), "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "type": "bind", "source": str(tmp_path), "options": ["rbind", "ro"]}]})
    fake = FakeSyscalls()
    order = []
    rootfs.prepare(fake, config, lambda: order.append("createRuntime"),
                   lambda: order.append(("createContainer", len(fake.calls))))
    names = fake.names()
    first = fake.calls[0]
    assert first.name == "mount" and first.args[1] == "/" and first.args[3] == shim.MS_SLAVE | shim.MS_REC
    assert fake.calls[2].args[:2] == (str(root), str(root))  # the root bind, for pivot_root
    data = [c for c in fake.calls if c.name == "mount" and c.args[1] == str(root / "data")]
    assert data[0].args[3] == shim.MS_BIND | shim.MS_REC
    assert data[1].args[3] & shim.MS_RDONLY and data[1].args[3] & shim.MS_REMOUNT
    pivot = names.index("pivot_root")
    assert order[0] == "createRuntime" and order[1][1] < pivot
    assert names[pivot + 1] == "umount2" and fake.calls[pivot + 1].args == (".", shim.MNT_DETACH)


def test_prepare_mounts_the_overlay_annotation_on_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    overlay = {"lower": ["/l1", "/l2"], "upper": "/u", "work": "/w"}
    config = _config(**{"root.path": str(root), "mounts": [],
                        "annotations": {"mkpy.io/overlay": json.dumps(overlay)}})
    fake = FakeSyscalls()
    rootfs.prepare(fake, config, lambda: None, lambda: None)
    mount = fake.calls[2]
    assert mount.args == ("overlay", str(root), "overlay", 0, "lowerdir=/l1:/l2,upperdir=/u,workdir=/w")


def test_masked_and_readonly_paths(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    fake = FakeSyscalls()
    rootfs.masked_paths(fake, [str(tmp_path / "dir"), str(tmp_path / "file"), str(tmp_path / "missing")])
    assert [(c.args[0], c.args[2]) for c in fake.calls] == [("tmpfs", "tmpfs"), ("/dev/null", None)]
    fake = FakeSyscalls()
    rootfs.readonly_paths(fake, [str(tmp_path / "dir")])
    assert fake.calls[1].args[3] & shim.MS_RDONLY


# ---------------------------------------------------------------- signals, namespaces, exec
def test_parse_signal():
    assert parse_signal("TERM") == parse_signal("SIGTERM") == parse_signal("15") == signal.SIGTERM
    assert parse_signal(9) == signal.SIGKILL
    for bad in ("NOPE", "0", "999"):
        with pytest.raises(ContainerError, match="signal"):
            parse_signal(bad)


def test_namespace_plan_joins_user_first_and_mount_last():
    namespaces = [{"type": "mount", "path": "/m"}, {"type": "pid"}, {"type": "network", "path": "/n"},
                  {"type": "user", "path": "/u"}]
    config = _config(**{"linux.namespaces": namespaces})
    new, join = namespace_plan(config)
    assert new == {"pid"}
    assert [kind for kind, _ in join] == ["user", "network", "mount"]


def test_exec_process_overrides():
    config = _config(**{"process.env": ["PATH=/bin", "A=1"]})
    proc = exec_process(config, ["ls"], env=["A=2", "B=3"], cwd="/tmp", user="5:6", tty=True)
    assert proc["args"] == ["ls"] and proc["cwd"] == "/tmp" and proc["terminal"] is True
    assert proc["env"] == ["PATH=/bin", "A=2", "B=3"]
    assert proc["user"]["uid"] == 5 and proc["user"]["gid"] == 6
    assert proc["capabilities"] == config["process"]["capabilities"]  # same security settings
    with pytest.raises(ContainerError, match="--user"):
        exec_process(config, ["ls"], user="alice")


# ---------------------------------------------------------------- state
def test_pid_start_time_detects_reuse():
    me = os.getpid()
    start = pid_start_time(me)
    assert start is not None and pid_is(me, start)
    assert not pid_is(me, start + 1)  # same pid, another process (reused pid)


def _state_dir(tmp_path, pid, start, fifo):
    st = StateDir(str(tmp_path), "mkpyt-rt-unit")
    os.makedirs(st.path)
    st.write({"id": st.id, "pid": pid, "pid_start_time": start, "bundle": "/b", "annotations": {"a": "b"},
              "created": "t", "cgroup": "/x", "log_path": "/l"})
    if fifo:
        os.mkfifo(st.file("exec.fifo"))
    return st


def test_status_from_pid_and_fifo(tmp_path):
    me = os.getpid()
    assert _state_dir(tmp_path / "a", me, pid_start_time(me), fifo=True).status() == "created"
    assert _state_dir(tmp_path / "b", me, pid_start_time(me), fifo=False).status() == "running"
    stopped = _state_dir(tmp_path / "c", me, pid_start_time(me) + 1, fifo=False)
    assert stopped.oci_state() | {"created": "t"} == {
        "ociVersion": spec.OCI_VERSION, "id": "mkpyt-rt-unit", "status": "stopped", "pid": 0,
        "bundle": "/b", "annotations": {"a": "b"}, "created": "t"}


def test_bad_ids_are_refused(tmp_path):
    for bad in ("", "../x", "a/b", "-x"):
        with pytest.raises(ContainerError, match="invalid container id"):
            StateDir(str(tmp_path), bad)


# ---------------------------------------------------------------- channel and client
def test_channel_messages_and_errors():
    a, b = channel.pair()
    channel.send(a, "pid", pid=42)
    assert channel.receive(b, "pid") == {"type": "pid", "pid": 42}
    channel.send(a, "error", message="mounts[0]: boom")
    with pytest.raises(ContainerError, match=r"mounts\[0\]: boom"):
        channel.receive(b, "ready")
    a.close()
    with pytest.raises(ContainerError, match="exited during create"):
        channel.receive(b, "ready")


def test_client_reads_state_and_reports_cli_errors(tmp_path):
    me = os.getpid()
    st = _state_dir(tmp_path, me, pid_start_time(me), fifo=False)
    with open(st.file("exit.json"), "w") as f:
        json.dump({"exitCode": 3}, f)
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('mkpy-runc: no such thing'); sys.exit(1)"]
    client = RuntimeClient(str(tmp_path), command=failing)
    assert client.state("mkpyt-rt-unit")["status"] == "running"
    assert [s["id"] for s in client.list()] == ["mkpyt-rt-unit"]
    assert client.exit_info("mkpyt-rt-unit") == {"exitCode": 3}
    assert client.log_path("mkpyt-rt-unit") == "/l"
    with pytest.raises(ContainerError, match="start: no such thing"):
        client.start("mkpyt-rt-unit")


def test_exec_report_pipe_reads_pid_and_errors_in_any_order():
    import os

    from minikube_py.runtime import exec as exec_mod

    r, w = os.pipe()
    exec_mod._report(w, "error", "process.args[0]: 'nope':\nnot found")  # one line, whatever the text
    exec_mod._report(w, "pid", "4242")
    os.close(w)
    assert exec_mod._read_report(r) == (4242, "process.args[0]: 'nope': not found")
    r, w = os.pipe()
    os.close(w)
    assert exec_mod._read_report(r) == (0, "")  # nothing reported: the process never started


def test_exec_process_json_replaces_terminal_and_keeps_the_rest():
    from minikube_py.runtime.exec import exec_process

    config = {"process": {"args": ["sleep"], "terminal": True, "cwd": "/", "env": ["A=1"],
                          "capabilities": {"bounding": ["CAP_KILL"]}}}
    proc = exec_process(config, [], process={"args": ["sh"], "env": ["B=2"]})
    assert proc["args"] == ["sh"] and proc["env"] == ["B=2"] and proc["terminal"] is False
    assert proc["capabilities"] == {"bounding": ["CAP_KILL"]}  # not given: the container's own
    assert exec_process(config, ["ls"], tty=True)["terminal"] is True
