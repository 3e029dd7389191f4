"""containerd (Debian's 1.6, its runc v2 shim and `ctr`) running containers with mkpy-runc as the
runc binary, as runc would: output on the stdio the shim gave, exit codes, exec, kill, delete.

containerd keeps some paths fixed (/run/containerd/s for shim sockets, the runc state root), so
the whole scenario runs in a throwaway mount namespace with a tmpfs on /run: nothing of it is
visible to the host. containerd gets MKPY_RUNC_MONITOR=none (docs/runtime.md, "containerd").
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from minikube_py.runtime import launcher

pytestmark = [pytest.mark.integration]

SCRIPT = r"""
set -u
mount -t tmpfs mkpyt-rt-run /run
MKPY_RUNC_MONITOR=none containerd --config "$DIR/config.toml" > "$DIR/containerd.log" 2>&1 &
echo $! > "$DIR/containerd.pid"
for i in $(seq 100); do [ -S "$DIR/containerd.sock" ] && break; sleep 0.05; done
ctr() { timeout 30 ctr --address "$DIR/containerd.sock" --namespace mkpyt-rt "$@"; }
R="--runc-binary $DIR/mkpy-runc"
echo "--- run"
ctr run --rm $R --rootfs "$ROOTFS" "$ID-1" sh -c 'echo hello from ctr; echo to-stderr >&2; exit 3'
echo "run rc=$?"
echo "--- detached"
ctr run -d $R --rootfs "$ROOTFS" "$ID-2" sleep 1000
echo "run -d rc=$?"
ctr task exec --exec-id e1 "$ID-2" sh -c 'echo from exec pid $$; exit 4'
echo "exec rc=$?"
ctr task ls
ctr task kill -s KILL "$ID-2"
for i in $(seq 100); do ctr task ls | grep -q STOPPED && break; sleep 0.05; done
ctr task ls
ctr task delete "$ID-2"
echo "delete rc=$?"
ctr container delete "$ID-2"
echo "--- bad"
ctr run --rm $R --rootfs "$ROOTFS" "$ID-3" /no-such-program 2>&1
echo "bad rc=$?"
echo "--- tty"
# ctr -t wants a terminal on its stdin: script(1) gives it one. The shim passes --console-socket.
# --foreground: plain timeout moves ctr into a background process group of that terminal, where
# ctr's tcsetattr stops it with SIGTTOU (seen whenever script's $SHELL is dash, which forks).
SHELL=/bin/sh script -qec "timeout --foreground 30 ctr --address $DIR/containerd.sock \
  --namespace mkpyt-rt run -t --rm $R --rootfs $ROOTFS $ID-4 sh -c 'tty; exit 5'" /dev/null < /dev/null
echo "run -t rc=$?"
echo "--- state root"
ls /run/containerd/runc/mkpyt-rt
echo "--- end"
kill $(cat "$DIR/containerd.pid")
wait
"""

CONFIG = """version = 2
root = "{dir}/root"
state = "{dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{dir}/containerd.sock"
[ttrpc]
  address = "{dir}/containerd.sock.ttrpc"
[metrics]
  address = ""
"""


def _ours(directory: str) -> list[psutil.Process]:
    """containerd and its shims started by this test (their command lines name our directory)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if directory in cmd and ("containerd" in cmd) and "pytest" not in cmd:
            found.append(p)
    return found


def test_containerd_runs_containers_with_mkpy_runc(busybox_rootfs):
    for tool in ("containerd", "ctr", "containerd-shim-runc-v2", "unshare", "script"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs containerd)")
    # A short path: the shim's socket path must fit a sockaddr_un.
    directory = Path(f"/tmp/mkpyt-rt-ctrd-{uuid.uuid4().hex[:6]}")
    directory.mkdir()
    cid = f"mkpyt-rt-{uuid.uuid4().hex[:6]}"
    try:
        (directory / "config.toml").write_text(CONFIG.format(dir=directory))
        launcher.write_script(str(directory / "mkpy-runc"), python=sys.executable)
        done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", SCRIPT],
                              env={**os.environ, "DIR": str(directory), "ROOTFS": str(busybox_rootfs),
                                   "ID": cid},
                              capture_output=True, text=True, timeout=180)
        log = (directory / "containerd.log").read_text() if (directory / "containerd.log").exists() else ""
        out = done.stdout
        assert "--- end" in out, out + done.stderr + log
        run = out.split("--- run\n")[1].split("--- detached\n")[0]
        # The container wrote to the stdio the shim gave it, and its exit code came back.
        assert run.splitlines() == ["hello from ctr", "run rc=3"], out
        assert "to-stderr" in done.stderr
        detached = out.split("--- detached\n")[1].split("--- bad\n")[0]
        assert "run -d rc=0" in detached
        assert "exec rc=4" in detached and "from exec pid " in detached, out
        running = [ln.split() for ln in detached.splitlines() if ln.startswith(f"{cid}-2")]
        assert running[0][2] == "RUNNING" and int(running[0][1]) > 0, detached
        assert running[1][2] == "STOPPED", detached
        assert "delete rc=0" in detached, out + done.stderr
        # A create that fails: containerd reports our message (from the --log JSON file).
        bad = out.split("--- bad\n")[1].split("--- tty\n")[0]
        assert "OCI runtime create failed: process.args[0]: '/no-such-program'" in bad, bad
        assert "bad rc=0" not in bad
        # A terminal through the shim's console socket: the pty is the container's own.
        tty = out.split("--- tty\n")[1].split("--- state root\n")[0].replace("\r", "").replace("\0", "")
        assert re.search(r"/dev/pts/\d+$", tty, re.M) and "run -t rc=5" in tty, tty  # (script echoes a ^@)
        # Every container was deleted through mkpy-runc: nothing left in its state root.
        assert out.split("--- state root\n")[1].split("--- end")[0].strip() == ""
    finally:
        for p in _ours(str(directory)):  # only after a failure: containerd and its shims, by pid
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(_ours(str(directory)), timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.vm
def test_without_our_monitor_the_container_writes_to_the_callers_stdio(rt, tmp_path):
    """MKPY_RUNC_MONITOR=none: runc's model, the caller is the monitor (what containerd's shim expects)."""
    cid, bundle = rt.bundle(["sh", "-c", "echo out-$PPID; read line; echo got-$line; echo err >&2"])
    out, err = tmp_path / "out", tmp_path / "err"
    (tmp_path / "in").write_text("typed\n")
    with open(tmp_path / "in") as i, open(out, "w") as o, open(err, "w") as e:
        subprocess.run([sys.executable, "-m", "minikube_py.runtime.cli", "--root", str(rt.root),
                        "create", "--bundle", str(bundle), cid],
                       stdin=i, stdout=o, stderr=e, env={**os.environ, "MKPY_RUNC_MONITOR": "none"},
                       timeout=60, check=True)
    record = (rt.root / cid / "state.json").read_text()
    assert '"monitor_pid": 0' in record
    assert psutil.Process(rt.state(cid)["pid"]).parent().name() != "mkpy-monitor"
    rt.cli("start", cid)
    rt.wait_status(cid, "stopped")
    assert out.read_text() == "out-0\ngot-typed\n"  # stdin, stdout and stderr were the caller's
    assert err.read_text() == "err\n"
    assert not (rt.root / cid / "container.log").exists() and rt.cli("state", cid).returncode == 0
    rt.cli("delete", cid)


def test_kill_all_signals_every_process_and_is_no_error_once_stopped(rt):
    cid = rt.run_detached(["sleep", "1000"])
    # (the detached process lets go of our captured stdio at once, or rt.cli would wait for it)
    rt.cli("exec", "--detach", cid, "sh", "-c", "exec sleep 999 >/dev/null 2>&1")
    pids = rt.cli("ps", "--format", "json", cid).stdout
    assert pids.count(",") == 1, pids  # the init and the exec'd sleep
    rt.cli("kill", "--all", cid, "KILL")
    rt.wait_status(cid, "stopped")
    assert rt.cli("ps", "--format", "json", cid).stdout.strip() == "[]"
    assert rt.cli("kill", cid, "KILL", check=False).returncode == 1  # the init alone: not running
    rt.cli("kill", "--all", cid, "KILL")  # what containerd sends while cleaning up: fine
    rt.cli("delete", cid)
