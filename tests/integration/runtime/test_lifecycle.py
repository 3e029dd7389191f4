"""create/start/state/kill/delete/run/exec/list/ps/trace, the monitor, logs, hooks, failures."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys

import psutil
import pytest

pytestmark = [pytest.mark.integration]

CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) (.*)$")


def _monitors(cid: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and "mkpy-monitor" in p.info["cmdline"][0] and cid in p.info["cmdline"]]


def _cgroup_dirs(cid: str) -> list[str]:
    found = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(dirpath, d) for d in dirnames if d == cid]
        if dirpath.count("/") >= 5:
            dirnames[:] = []
    return found


@pytest.mark.vm
def test_create_start_state_and_exit_by_itself(rt):
    cid, bundle = rt.bundle(["sh", "-c", "echo started; exit 3"])
    rt.cli("create", "--bundle", str(bundle), cid)
    state = rt.state(cid)
    assert state["status"] == "created"
    assert state["bundle"] == str(bundle)
    assert psutil.Process(state["pid"]).status() != psutil.STATUS_ZOMBIE
    log = rt.root / cid / "container.log"
    assert not log.exists() or log.read_text() == ""  # nothing ran before start
    rt.cli("start", cid)
    info = rt.exit_info(cid)
    assert info["exitCode"] == 3 and info["signal"] == 0 and info["oomKilled"] is False
    assert info["startedAt"] <= info["finishedAt"]
    state = rt.state(cid)
    assert state["status"] == "stopped" and state["pid"] == 0
    with pytest.raises(AssertionError, match="not running"):
        rt.cli("kill", cid, "KILL")
    rt.cli("delete", cid)
    assert not (rt.root / cid).exists()
    assert _cgroup_dirs(cid) == []


def test_start_twice_and_unknown_id_are_errors(rt):
    cid = rt.run_detached(["sleep", "1000"])
    second = rt.cli("start", cid, check=False)
    assert second.returncode != 0 and "running" in second.stderr
    unknown = rt.cli("state", "mkpyt-rt-nonexistent", check=False)
    assert unknown.returncode != 0 and "does not exist" in unknown.stderr
    refused = rt.cli("delete", cid, check=False)
    assert refused.returncode != 0 and "--force" in refused.stderr


def test_logs_are_cri_format_with_partial_lines(rt, tmp_path):
    log = tmp_path / "pods" / "mkpyt-rt.log"  # the kubelet's annotation moves the log
    cid = rt.run_detached(["sh", "-c", "echo line1; echo oops >&2; printf partial"],
                          annotations={"mkpy.io/log-path": str(log)})
    rt.exit_info(cid)
    lines = log.read_text().splitlines()
    parsed = [CRI_LINE.match(line).groups() for line in lines]
    assert ("stdout", "F", "line1") in parsed
    assert ("stderr", "F", "oops") in parsed
    assert ("stdout", "P", "partial") in parsed


def test_kill_with_signal_names_and_numbers(rt):
    script = "trap 'exit 7' TERM; trap 'exit 8' USR1; echo ready; while :; do sleep 0.05; done"
    for sig, code in (("TERM", 7), ("SIGUSR1", 8), ("15", 7)):
        cid = rt.run_detached(["sh", "-c", script])
        rt.wait_status(cid, "running")
        # the trap is set once "ready" is logged
        while "ready" not in (rt.root / cid / "container.log").read_text():
            pass
        rt.cli("kill", cid, sig)
        assert rt.exit_info(cid)["exitCode"] == code, sig
    bad = rt.cli("kill", cid, "SIGNOPE", check=False)
    assert bad.returncode != 0 and "unknown signal" in bad.stderr


def test_sigkill_is_reported_as_signal(rt):
    cid = rt.run_detached(["sleep", "1000"])
    rt.cli("kill", cid, "9")
    info = rt.exit_info(cid)
    assert info["signal"] == 9 and info["exitCode"] == 137


@pytest.mark.vm
def test_delete_force_of_a_running_container_leaves_nothing(rt):
    cid = rt.run_detached(["sh", "-c", "sleep 1000 & sleep 1000"])
    state = rt.state(cid)
    assert state["status"] == "running"
    assert _monitors(cid)
    rt.cli("delete", "--force", cid)
    assert not psutil.pid_exists(state["pid"]) or psutil.Process(state["pid"]).status() == "zombie"
    assert not (rt.root / cid).exists()
    assert _cgroup_dirs(cid) == []
    assert _monitors(cid) == []


def test_run_returns_the_exit_code_and_cleans_up(rt):
    cid, bundle = rt.bundle(["sh", "-c", "echo to-the-terminal; exit 42"])
    done = rt.cli("run", "--bundle", str(bundle), cid, check=False)
    assert done.returncode == 42
    assert done.stdout.strip() == "to-the-terminal"  # attached: the container had our stdout
    assert not (rt.root / cid).exists()


@pytest.mark.vm
def test_killing_the_caller_does_not_kill_the_container(rt):
    cid, bundle = rt.bundle(["sleep", "1000"])
    argv = [sys.executable, "-m", "minikube_py.runtime.cli", "--root", str(rt.root), "run", "--bundle",
            str(bundle), cid]
    caller = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        rt.wait_status(cid, "running")
    except (AssertionError, json.JSONDecodeError):
        caller.kill()
        raise
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    state = rt.state(cid)
    assert state["status"] == "running"
    assert psutil.Process(state["pid"]).is_running()
    assert _monitors(cid)
    rt.cli("delete", "--force", cid)


@pytest.mark.vm
def test_exec_joins_every_namespace_and_the_cgroup(rt):
    cid = rt.run_detached(["sleep", "1000"], hostname="mkpyt-rt-exec")
    init = rt.state(cid)["pid"]
    done = rt.cli("exec", "--env", "X=mkpyt-x", "--cwd", "/tmp", cid,
                  "sh", "-c", "echo $$ $(hostname) $X $(pwd); ls -l /proc/self/ns | awk '{print $NF}'",
                  check=False)
    assert done.returncode == 0, done.stderr
    first, *links = done.stdout.splitlines()
    pid, hostname, x, cwd = first.split()
    assert int(pid) > 1 and hostname == "mkpyt-rt-exec" and x == "mkpyt-x" and cwd == "/tmp"
    for link in links:
        kind = link.split(":")[0]
        if kind in ("pid", "net", "mnt", "uts", "ipc", "cgroup"):
            assert link == os.readlink(f"/proc/{init}/ns/{kind}"), link
    code = rt.cli("exec", cid, "sh", "-c", "exit 5", check=False).returncode
    assert code == 5
    # In the container's cgroup namespace, a process in the container's cgroup sees "/";
    # one left outside would see a path climbing out ("/..").
    for line in rt.cli("exec", cid, "cat", "/proc/self/cgroup").stdout.splitlines():
        if line.split(":")[1] in ("memory", "pids", ""):
            assert line.endswith(":/"), line
    pids = json.loads(rt.cli("ps", "--format", "json", cid).stdout)
    assert init in pids


@pytest.mark.vm
def test_exec_with_a_tty(rt):
    cid = rt.run_detached(["sleep", "1000"])
    done = rt.cli("exec", "-t", cid, "sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty")
    out = done.stdout.replace("\r", "").splitlines()
    assert re.fullmatch(r"/dev/pts/\d+", out[0])
    assert out[1] == "stdin-is-a-tty"


@pytest.mark.vm
def test_console_socket_receives_the_pty_master(rt, tmp_path):
    path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(30)
    cid, bundle = rt.bundle(["sh", "-c", "tty; echo via-the-pty"], **{"process.terminal": True})
    argv = [sys.executable, "-m", "minikube_py.runtime.cli", "--root", str(rt.root), "create",
            "--bundle", str(bundle), "--console-socket", path, cid]
    creator = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    conn, _ = listener.accept()
    name, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    assert creator.wait(timeout=30) == 0, creator.stderr.read()
    assert fds and name.startswith(b"/dev/pts/")
    master = fds[0]
    rt.cli("start", cid)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO once the container has exited
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    conn.close()
    listener.close()
    assert b"via-the-pty" in out
    assert out.replace(b"\r", b"").split(b"\n")[0] == name
    assert rt.exit_info(cid)["exitCode"] == 0


def test_list_ps_and_trace(rt):
    cid = rt.run_detached(["sh", "-c", "sleep 1000 & sleep 1000"])
    assert cid in rt.cli("list", "-q").stdout.split()
    listed = json.loads(rt.cli("list", "--format", "json").stdout)
    assert [s["status"] for s in listed if s["id"] == cid] == ["running"]
    pids = json.loads(rt.cli("ps", "--format", "json", cid).stdout)
    assert len(pids) == 2
    trace = rt.cli("trace", cid).stdout
    assert re.search(r"^\s+1\. \[pid \d+\] setsid\(\)", trace, re.M)
    assert re.search(r"^\s+\d+\. \[pid \d+\] clone\(flags=CLONE_NEW", trace, re.M)
    assert "pivot_root(new_root=., put_old=.)" in trace
    assert re.search(r"at minikube_py/runtime/rootfs\.py:\d+", trace)
    # every step of the init is in order: mounts before pivot_root, capabilities after it
    assert (trace.index("PR_SET_CHILD_SUBREAPER") < trace.index("clone(") < trace.index("pivot_root(")
            < trace.index("sethostname(") < trace.index("capset("))


def _hook(out_dir, name):
    return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out_dir}/{name}.json"]}


def test_hooks_run_at_their_points_with_the_state(rt, tmp_path):
    stages = ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    cid, bundle = rt.bundle(["true"], hooks={s: [_hook(tmp_path, s)] for s in stages})
    rt.cli("create", "--bundle", str(bundle), cid)
    for s in ("prestart", "createRuntime", "createContainer"):
        state = json.loads((tmp_path / f"{s}.json").read_text())
        assert state["id"] == cid and state["pid"] > 0, s
    assert not (tmp_path / "poststart.json").exists()
    rt.cli("start", cid)
    assert json.loads((tmp_path / "poststart.json").read_text())["id"] == cid
    rt.exit_info(cid)
    rt.cli("delete", cid)
    assert json.loads((tmp_path / "poststop.json").read_text())["status"] == "stopped"


@pytest.mark.parametrize("changes, field", [
    ({"process.args": ["/no/such/program"]}, "process.args[0]"),
    ({"process.capabilities": {"bounding": ["CAP_BOGUS"]}}, "CAP_BOGUS"),
    ({"linux.namespaces": [{"type": "network", "path": "/nonexistent/mkpyt-rt-ns"}]},
     "linux.namespaces[0].path"),
    # these two fail after the cgroup exists (and the second inside the init): also on cgroup v2
    pytest.param({"linux.resources": {"memory": {"limit": "lots"}}}, "linux.resources.memory.limit",
                 marks=pytest.mark.vm),
    pytest.param({"mounts": [{"destination": "/x", "type": "bind", "source": "/nonexistent-mkpyt",
                              "options": ["bind"]}]}, "/nonexistent-mkpyt", marks=pytest.mark.vm),
    ({"hooks": {"createRuntime": [{"path": "/bin/false"}]}}, "hooks.createRuntime[0]"),
    ({"process.args": None}, "process.args"),
])
def test_failed_create_names_the_field_and_leaves_nothing(rt, changes, field):
    cid, bundle = rt.bundle(["true"], **changes)
    done = rt.cli("create", "--bundle", str(bundle), cid, check=False)
    assert done.returncode != 0
    assert field in done.stderr, done.stderr
    assert not (rt.root / cid).exists()
    assert _cgroup_dirs(cid) == []
    assert _monitors(cid) == []
    # (mounts and processes are also checked by the leak check around every test)


def test_spec_writes_a_default_config(tmp_path, rt):
    rt.cli("spec", "--bundle", str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["args"] == ["sh"] and config["root"]["path"] == "rootfs"
    again = rt.cli("spec", "--bundle", str(tmp_path), check=False)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_mkpy_runtime_group_is_registered(rt):
    done = subprocess.run([sys.executable, "-m", "minikube_py", "runtime", "--root", str(rt.root), "list",
                           "-q"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_start_container_hook_runs_inside_the_container(rt):
    """startContainer runs after pivot_root, in the container: its /bin/sh, its /dev/shm."""
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "cat > /dev/shm/hook.json"]}
    cid = rt.run_detached(["cat", "/dev/shm/hook.json"], hooks={"startContainer": [hook]})
    state = json.loads(rt.output(cid))
    assert state["id"] == cid and state["pid"] > 0
