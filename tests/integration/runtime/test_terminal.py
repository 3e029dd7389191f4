"""Terminals and the exec flags containerd uses: controlling tty, SIGWINCH on resize,
--console-socket for exec, --detach, --pid-file, --process."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import time

import pytest

pytestmark = [pytest.mark.integration]

# The shell in the container prints its tty and the fields of /proc/self/stat that say
# who owns the terminal, then waits; a window size change must reach it as SIGWINCH.
WINCH_SCRIPT = (
    "tty; read -r pid comm state ppid pgrp sid tty_nr tpgid rest < /proc/$$/stat; "
    "echo STAT pid=$pid sid=$sid tty_nr=$tty_nr pgrp=$pgrp tpgid=$tpgid; "
    "trap 'echo WINCH $(stty size); kill $!; exit 0' WINCH; echo READY; sleep 60 & wait"
)


def _cli(rt) -> list[str]:
    return [sys.executable, "-m", "minikube_py.runtime.cli", "--root", str(rt.root)]


def _read_until(master: int, done, timeout: float = 30) -> bytes:
    """Read a pty master until done(output) or EOF; the deadline only stops a broken run hanging."""
    out = b""
    deadline = time.monotonic() + timeout
    while not done(out) and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if master in ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the last holder of the slave is gone
                break
            if not chunk:
                break
            out += chunk
    return out


def _under_a_pty(argv: list[str]) -> tuple[subprocess.Popen, int]:
    """Start argv the way the kubelet starts `exec -t`: a new session with a pty as its stdio."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    return proc, master


def _resize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _check_terminal_owner(text: str) -> None:
    lines = text.replace("\r", "").splitlines()
    assert re.fullmatch(r"/dev/pts/\d+", lines[0]), text
    stat = dict(kv.split("=") for kv in next(ln for ln in lines if ln.startswith("STAT ")).split()[1:])
    assert stat["sid"] == stat["pid"], f"the shell is not a session leader: {stat}"
    assert stat["tty_nr"] != "0", f"no controlling terminal: {stat}"
    assert stat["tpgid"] == stat["pgrp"], f"not the terminal's foreground group: {stat}"


@pytest.mark.vm
def test_exec_tty_is_the_controlling_terminal_and_a_resize_sends_sigwinch(rt):
    cid = rt.run_detached(["sleep", "1000"])
    proc, master = _under_a_pty([*_cli(rt), "exec", "-t", cid, "sh", "-c", WINCH_SCRIPT])
    try:
        out = _read_until(master, lambda o: b"READY" in o)
        _check_terminal_owner(out.decode())
        _resize(master, 40, 100)  # on OUR pty: the runtime must pass it on to the container's
        out += _read_until(master, lambda o: b"WINCH" in o and o.endswith(b"\n"))
        assert proc.wait(timeout=30) == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert re.search(rb"WINCH 40 100", out), out


@pytest.mark.vm
def test_run_with_process_terminal_proxies_the_pty_and_resizes(rt):
    cid, bundle = rt.bundle(["sh", "-c", WINCH_SCRIPT], **{"process.terminal": True})
    proc, master = _under_a_pty([*_cli(rt), "run", "--bundle", str(bundle), cid])
    _resize(master, 20, 70)
    try:
        out = _read_until(master, lambda o: b"READY" in o)
        _check_terminal_owner(out.decode())
        assert b"WINCH" not in out
        _resize(master, 33, 90)
        out += _read_until(master, lambda o: b"WINCH" in o and o.endswith(b"\n"))
        assert proc.wait(timeout=30) == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"WINCH 33 90" in out, out
    assert not (rt.root / cid).exists()  # run deletes what it created


def _listen(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(30)
    return listener


def _receive_master(listener: socket.socket) -> tuple[bytes, int]:
    conn, _ = listener.accept()
    with conn:
        name, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    assert fds, "no fd came over the console socket"
    return name, fds[0]


@pytest.mark.vm
def test_exec_console_socket_detach_and_pid_file(rt, tmp_path):
    """containerd's exec: `exec --process P --console-socket S --detach --pid-file F ID`."""
    cid = rt.run_detached(["sleep", "1000"])
    listener = _listen(str(tmp_path / "console.sock"))
    process = tmp_path / "process.json"
    process.write_text(json.dumps({
        "terminal": True, "args": ["sh", "-c", "tty; read line; echo got-$line-$X; sleep 1000"],
        "env": ["PATH=/bin", "X=mkpyt-env"], "cwd": "/tmp",
    }))
    pid_file = tmp_path / "exec.pid"
    err = tmp_path / "stderr"
    with open(err, "w") as errf:  # not a pipe: the detached process would hold it open
        done = subprocess.run([*_cli(rt), "exec", "--process", str(process), "--console-socket",
                               str(tmp_path / "console.sock"), "--detach", "--pid-file", str(pid_file), cid],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf, timeout=60)
    assert done.returncode == 0, err.read_text()
    name, master = _receive_master(listener)
    listener.close()
    try:
        pid = int(pid_file.read_text())
        assert pid in json.loads(rt.cli("ps", "--format", "json", cid).stdout)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[0] == b"sh"
        os.write(master, b"hello\n")
        out = _read_until(master, lambda o: b"got-" in o and o.endswith(b"\n"))
    finally:
        os.close(master)
    lines = out.replace(b"\r", b"").split(b"\n")
    assert lines[0] == name and name.startswith(b"/dev/pts/"), out
    assert b"got-hello-mkpyt-env" in out, out
    rt.cli("delete", "--force", cid)  # the cgroup takes the detached process with it
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


@pytest.mark.vm
def test_exec_console_socket_waits_for_the_exit_code(rt, tmp_path):
    cid = rt.run_detached(["sleep", "1000"])
    listener = _listen(str(tmp_path / "c.sock"))
    proc = subprocess.Popen([*_cli(rt), "exec", "-t", "--console-socket", str(tmp_path / "c.sock"), cid,
                             "sh", "-c", "read x; exit $x"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, master = _receive_master(listener)
        os.write(master, b"7\n")
        assert proc.wait(timeout=30) == 7, proc.stderr.read()
        os.close(master)
    finally:
        listener.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_exec_errors_name_what_is_wrong(rt, tmp_path):
    cid = rt.run_detached(["sleep", "1000"])
    # A detached exec still reports a process that could not start.
    done = rt.cli("exec", "--detach", cid, "no-such-program", check=False)
    assert done.returncode != 0 and "no-such-program" in done.stderr
    done = rt.cli("exec", cid, "no-such-program", check=False)
    assert done.returncode == 126 and "no-such-program" in done.stderr
    done = rt.cli("exec", "-t", "--detach", cid, "sh", check=False)
    assert done.returncode != 0 and "--console-socket" in done.stderr
    done = rt.cli("exec", "--console-socket", str(tmp_path / "none.sock"), cid, "sh", check=False)
    assert done.returncode != 0 and "--tty" in done.stderr
    done = rt.cli("exec", "-t", "--console-socket", str(tmp_path / "none.sock"), cid, "sh", check=False)
    assert done.returncode != 0 and "none.sock" in done.stderr
    (tmp_path / "p.json").write_text(json.dumps({"env": []}))
    done = rt.cli("exec", "--process", str(tmp_path / "p.json"), cid, check=False)
    assert done.returncode != 0 and "args" in done.stderr
    assert rt.cli("ps", "--format", "json", cid).stdout.count(",") == 0  # only the init is left
