"""`mkpy up`, `mkpy down`, `mkpy status`: start the supervisor and wait for a Ready node; remove
every trace; say what runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psutil

from minikube_py.cluster.config import ClusterConfig, ClusterError
from minikube_py.cluster.supervisor import component_argvs

Say = Callable[[str], None]


def _alive(pid_file: str, mark: str = "minikube_py") -> psutil.Process | None:
    """The process named in pid_file, if it still runs our code (a pid can be reused)."""
    try:
        with open(pid_file) as f:
            proc = psutil.Process(int(f.read().split()[0]))
        if proc.status() != psutil.STATUS_ZOMBIE and mark in " ".join(proc.cmdline()):
            return proc
    except (FileNotFoundError, ValueError, IndexError, psutil.Error):
        pass
    return None


def supervisor(cfg: ClusterConfig) -> psutil.Process | None:
    return _alive(cfg.pid_file)


def node_ready(node: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


def up(cfg: ClusterConfig, timeout: float = 120.0, say: Say = print) -> float:
    """Start the cluster (unless it runs) and wait until the API answers and the node is Ready.
    Returns the seconds it took."""
    from minikube_py.api.client import Client

    t0 = time.monotonic()
    if os.path.exists(cfg.config_file):
        old = ClusterConfig.load(cfg.run_root)
        if supervisor(old) is not None:
            say(f"mkpy is already up (supervisor pid {supervisor(old).pid}, node {old.node_name}).")
            return 0.0
    for d in (cfg.state_root, cfg.run_root, cfg.log_dir, cfg.pid_dir, os.path.dirname(cfg.kubeconfig)):
        os.makedirs(d, exist_ok=True)
    cfg.save()
    with open(os.path.join(cfg.log_dir, "supervisor.log"), "ab") as logf:
        # A new session: the supervisor outlives this command and no terminal signal reaches it.
        proc = subprocess.Popen(
            [sys.executable, "-m", "minikube_py.cluster.supervisor", cfg.run_root],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    say(f"supervisor started (pid {proc.pid}); logs in {cfg.log_dir}/")
    deadline = time.monotonic() + timeout
    stage = "the API server"
    client = None
    while True:
        if proc.poll() is not None:
            raise ClusterError(
                f"the supervisor exited ({proc.returncode}) while waiting for {stage}; "
                f"see {cfg.log_dir}/supervisor.log and {cfg.log_dir}/apiserver.log"
            )
        if time.monotonic() > deadline:
            raise ClusterError(
                f"timed out after {timeout:.0f} s waiting for {stage}; logs in {cfg.log_dir}/ "
                "(`mkpy down` cleans up)"
            )
        try:
            if client is None and cfg.role == "worker":
                # A worker's API is the control plane's, reached with the node's own credential.
                client = Client.from_kubeconfig(cfg.node_kubeconfig, timeout=5)
                stage = f"node {cfg.node_name} to be Ready"
            if client is None and os.path.exists(cfg.api_socket) and os.path.exists(cfg.kubeconfig):
                # Through the kubeconfig, as kubectl will: TLS + token on 127.0.0.1:<port>.
                Client.from_kubeconfig(cfg.kubeconfig, timeout=5).version()
                client = Client.from_socket(cfg.api_socket, timeout=5)
                say(f"API server answers on {cfg.api_url} ({time.monotonic() - t0:.1f} s)")
                stage = f"node {cfg.node_name} to be Ready"
            if client is not None and node_ready(client.get("nodes", cfg.node_name)):
                break
        except Exception:  # noqa: BLE001 - not there yet: retry until the deadline
            pass
        time.sleep(0.2)
    took = time.monotonic() - t0
    say(f"node {cfg.node_name} is Ready ({took:.1f} s)")
    return took


def log_tails(cfg: ClusterConfig, lines: int = 8) -> str:
    """The last lines of each component's log: where a failed `mkpy up` usually explains itself."""
    out = []
    for name in ["supervisor", *(n for n, _ in component_argvs(cfg))]:
        path = os.path.join(cfg.log_dir, f"{name}.log")
        with contextlib.suppress(OSError), open(path, errors="replace") as f:
            tail = f.read().splitlines()[-lines:]
            if tail:
                out.append(f"--- {path}\n" + "\n".join(tail))
    return "\n".join(out)


def usage_hint(cfg: ClusterConfig) -> str:
    if cfg.role == "worker":
        return (
            f"\nJoined {cfg.server} as node {cfg.node_name}. On the control plane: kubectl get nodes\n"
            f"Logs: {cfg.log_dir}/<component>.log   Leave: mkpy down"
        )
    return (
        f"\nUse it with kubectl:\n    export KUBECONFIG={cfg.kubeconfig}\n    kubectl get nodes\n"
        f"Logs: {cfg.log_dir}/<component>.log   Stop and clean up: mkpy down"
        + ("" if cfg.run_root == "/run/mkpy" else f" --run-root {cfg.run_root}")
    )


def _stop_process(proc: psutil.Process, timeout: float) -> None:
    with contextlib.suppress(psutil.Error):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def down(run_root: str, keep_state: bool = False, say: Say = print) -> None:
    """Stop everything `up` started and remove what it made, in the order that leaves nothing:
    components, then pods (drained by the kubelet: CNI DEL, netns, cgroups, mounts), the registry,
    any container the runtime still knows, the node network (its iptables rules go with its
    namespace), and the state."""
    from minikube_py.cluster import registry

    cfg = ClusterConfig.load(run_root)
    sup = supervisor(cfg)
    if sup is not None:
        say(f"stopping the supervisor (pid {sup.pid}) and its components")
        _stop_process(sup, 90)
    # Components a SIGKILLed supervisor left (PDEATHSIG normally ends them).
    for name, _ in component_argvs(cfg):
        proc = _alive(os.path.join(cfg.pid_dir, f"{name}.pid"))
        if proc is not None:
            say(f"stopping leftover {name} (pid {proc.pid})")
            _stop_process(proc, 20)
    _drain(cfg, say)
    registry.stop(cfg)
    _remove_containers(cfg, say)
    _remove_pod_netns(cfg, say)
    net = cfg.node_network()
    net.destroy()
    say(f"removed the node network ({cfg.node_netns_path or 'host namespace: bridge and MKPY rules'})")
    _unmount_under(cfg)
    import shutil

    shutil.rmtree(cfg.run_root, ignore_errors=True)
    if not keep_state:
        shutil.rmtree(cfg.state_root, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(cfg.kubeconfig)
        say(f"removed {cfg.state_root}, {cfg.run_root} and {cfg.kubeconfig} (logs stay in {cfg.log_dir})")
    else:
        say(f"removed {cfg.run_root}; kept {cfg.state_root}")


def _drain(cfg: ClusterConfig, say: Say) -> None:
    """`mkpy kubelet --drain`: the kubelet's own pod termination, with no API server needed."""
    if not os.path.isdir(os.path.join(cfg.kubelet_root, "pods")):
        return
    argv = next(a for n, a in component_argvs(cfg) if n == "kubelet")
    drop = {"--api-socket", "--kubeconfig", "--port", "--cluster-dns"}
    drained = [a for i, a in enumerate(argv) if a not in drop and argv[i - 1] not in drop] + ["--drain"]
    say("terminating the pods (mkpy kubelet --drain)")
    res = subprocess.run(drained, capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        say(f"kubelet --drain exited {res.returncode}: {res.stderr.strip()[-500:]}")


def _remove_containers(cfg: ClusterConfig, say: Say) -> None:
    if not os.path.isdir(cfg.runtime_root):
        return
    from minikube_py.runtime.client import RuntimeClient

    rc = RuntimeClient(cfg.runtime_root)
    for c in rc.list():
        say(f"removing leftover container {c.get('id')}")
        with contextlib.suppress(Exception):
            rc.delete(c["id"], force=True)


def _remove_pod_netns(cfg: ClusterConfig, say: Say) -> None:
    from minikube_py.network.netns import delete_netns

    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir("/run/netns"):
            if name.startswith(cfg.netns_prefix):
                say(f"removing leftover pod netns {name}")
                delete_netns(os.path.join("/run/netns", name))


def _unmount_under(cfg: ClusterConfig) -> None:
    """Volume tmpfs and overlay mounts a crash left under our roots, deepest first."""
    from minikube_py.kernel.syscalls import Syscalls

    roots = tuple(r.rstrip("/") + "/" for r in (cfg.state_root, cfg.run_root, cfg.log_dir))
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    sc = Syscalls()
    for mp in sorted({p for p in points if p.startswith(roots)}, key=len, reverse=True):
        with contextlib.suppress(OSError):
            sc.umount2(mp, 2, why="mkpy down: a leftover mount under the cluster's roots")  # MNT_DETACH


def status(run_root: str, say: Say = print) -> bool:
    """Print what runs; True when the supervisor and every component are alive and the node Ready."""
    cfg = ClusterConfig.load(run_root)
    sup = supervisor(cfg)
    ok = sup is not None
    say(f"supervisor  {'running, pid ' + str(sup.pid) if sup else 'not running'}")
    for name, _ in component_argvs(cfg):
        proc = _alive(os.path.join(cfg.pid_dir, f"{name}.pid"))
        ok &= proc is not None
        say(f"  {name:<19} {'running, pid ' + str(proc.pid) if proc else 'not running'}")
    try:
        from minikube_py.api.client import Client

        c = (
            Client.from_kubeconfig(cfg.node_kubeconfig, timeout=5)
            if cfg.role == "worker"
            else Client.from_socket(cfg.api_socket, timeout=5)
        )
        node = c.get("nodes", cfg.node_name)
        ready = node_ready(node)
        say(
            f"node {cfg.node_name}: {'Ready' if ready else 'NotReady'}; API {cfg.api_url}; "
            f"kubeconfig {cfg.kubeconfig}"
        )
        ok &= ready
    except Exception as exc:  # noqa: BLE001 - reported, not raised: status describes what is broken
        say(f"API server not answering on {cfg.api_socket}: {exc}")
        ok = False
    return ok
