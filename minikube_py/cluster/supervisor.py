"""The cluster's one daemon: it starts every component as its own process and keeps them running.

    python -m minikube_py.cluster.supervisor /run/mkpy       (what `mkpy up` starts, detached)

Process tree (`ps -ef --forest`):

    mkpy-supervisor            this file; pid in <run>/supervisor.pid, log <logs>/supervisor.log
    ├─ apiserver               `mkpy apiserver serve`   TLS on 127.0.0.1:6443 + <run>/apiserver.sock
    ├─ controller-manager      `mkpy controller-manager` (over the unix socket)
    ├─ scheduler               `mkpy scheduler`
    ├─ kubelet                 `mkpy kubelet`  (pods: each container is held by its own mkpy-monitor,
    │                                           which is not a child of the kubelet, see docs/kubelet.md)
    ├─ proxy                   `mkpy proxy run` (service rules + cluster DNS in the node netns)
    └─ ingress                 `mkpy ingress run` (HTTP :80 in the node netns; control-plane node only)

Each component is an ordinary CLI a student can also run by hand; the supervisor only adds the
order (the API server first, because everyone else talks to it), restarts with back-off when one
dies, and a clean stop in reverse order on SIGTERM. Children get PR_SET_PDEATHSIG, so even a
SIGKILLed supervisor takes them along.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from minikube_py.cluster.config import ClusterConfig

log = logging.getLogger("mkpy.supervisor")

BACKOFF_MAX = 30.0
MINIKUBE_EVICTION_HARD = "nodefs.available<0%,nodefs.inodesFree<0%,imagefs.available<0%"


def component_argvs(cfg: ClusterConfig) -> list[tuple[str, list[str]]]:
    """Each component's command line, in start order."""
    mkpy = [sys.executable, "-m", "minikube_py"]
    api = cfg.apiserver_dir
    # A worker has no API server of its own: its agents use the credential `node join` got.
    worker = cfg.role == "worker"
    sock = ["--kubeconfig", cfg.node_kubeconfig] if worker else ["--socket", cfg.api_socket]
    kubelet = [
        *mkpy,
        "kubelet",
        "--root",
        cfg.kubelet_root,
        "--runtime-root",
        cfg.runtime_root,
        "--image-root",
        cfg.state_root,
        "--log-root",
        cfg.pod_log_root,
        "--node-name",
        cfg.node_name,
        "--netns-prefix",
        cfg.netns_prefix,
        "--pod-cidr",
        cfg.pod_cidr,
        "--cluster-cidr",
        cfg.cluster_cidr,
        "--cluster-dns",
        cfg.cluster_dns,
        *(["--kubeconfig", cfg.node_kubeconfig] if worker else ["--api-socket", cfg.api_socket]),
        "--port",
        str(cfg.kubelet_port),
        "--mtu",
        str(cfg.pod_mtu),
        # minikube's kubelet configuration: no disk-based pressure (a laptop's disk is often more
        # than 85% full, and a DiskPressure taint would keep every pod off the only node).
        "--eviction-hard",
        MINIKUBE_EVICTION_HARD,
        "--verbose",
    ]
    kubelet += ["--node-host-network"] if cfg.host_network else ["--node-netns", cfg.node_netns]
    if cfg.node_ip:
        kubelet += ["--node-ip", cfg.node_ip]
        if cfg.host_network and not worker:
            # the kubelet serves HTTPS on the node IP to the API server's CA-signed client cert
            # (a worker takes the CA from its node kubeconfig)
            kubelet += ["--client-ca-file", os.path.join(api, "pki", "ca.crt")]
    proxy = [
        *mkpy,
        "proxy",
        "run",
        *sock,
        "--cluster-cidr",
        cfg.cluster_cidr,
        "--lb-pool",
        cfg.lb_pool,
        "--dns-listen",
        f"{cfg.gateway}:53",
        "--cluster-dns",
        cfg.cluster_dns,
        "--node-name",
        cfg.node_name,
    ]
    if cfg.node_netns_path:
        proxy += ["--netns", cfg.node_netns_path]
    apiserver = [
        *mkpy,
        "apiserver",
        "serve",
        # With an advertise address the API is for other machines: it listens there (TLS; off
        # loopback the server refuses plain HTTP and anonymous requests), and so does kubectl.
        "--listen",
        f"{cfg.advertise_address or '127.0.0.1'}:{cfg.api_port}",
        "--socket",
        cfg.api_socket,
        "--store",
        cfg.store_url,
        "--token-file",
        f"{api}/token",
        "--kubeconfig",
        cfg.kubeconfig,
        "--pki-dir",
        f"{api}/pki",
        "--encryption-key-file",
        f"{api}/encryption.key",
        "--ready-file",
        os.path.join(cfg.run_root, "apiserver.ready"),
    ]
    if cfg.advertise_address:
        apiserver += ["--advertise-address", f"{cfg.advertise_address}:{cfg.api_port}"]
    controller_manager = [
        *mkpy,
        "controller-manager",
        *sock,
        "--cluster-cidr",
        cfg.cluster_cidr,
        "--node-monitor-grace-period",
        str(cfg.node_monitor_grace_period),
        "--pod-eviction-timeout",
        str(cfg.pod_eviction_timeout),
    ]
    node_agents = [("kubelet", kubelet), ("proxy", proxy)]
    if cfg.host_network and cfg.node_ip:
        # route every other node's pod CIDR: via its InternalIP (host-gw, one L2 segment) or VXLAN
        node_agents.append(
            (
                "routes",
                [*mkpy, "node", "routes", *sock, "--node-name", cfg.node_name, "--pod-cidr", cfg.pod_cidr,
                 "--backend", cfg.backend, "--node-ip", cfg.node_ip],
            )
        )  # fmt: skip
    if worker:
        return node_agents
    # The ingress controller: one per cluster, on the control-plane node, serving port 80 of every
    # address in the node namespace. ADDRESS: the node IP when the node is the host itself; in a node
    # namespace the bridge address (the host's node IP is not an address of that namespace).
    publish = cfg.node_ip if cfg.host_network and cfg.node_ip else cfg.gateway
    ingress = [*mkpy, "ingress", "run", *sock, "--listen", f"0.0.0.0:{cfg.ingress_port}",
               "--tls-listen", f"0.0.0.0:{cfg.ingress_tls_port}", "--publish-ip", publish,
               "--default-class", "mkpy"]
    if cfg.node_netns_path:
        ingress += ["--netns", cfg.node_netns_path]
    node_agents.append(("ingress", ingress))
    return [
        ("apiserver", apiserver),
        ("controller-manager", controller_manager),
        ("scheduler", [*mkpy, "scheduler", *sock]),
        *node_agents,
    ]


def route_services(cfg: ClusterConfig, net) -> None:
    """Let the node itself call ClusterIPs: a locally sent packet is routed once *before* nat
    OUTPUT rewrites its destination, so 10.96.0.0/12 needs some route, or connect() fails with
    "Network is unreachable". A real node has a default route; our node netns has only the bridge,
    so the service range points at it (the DNAT then sends the packet to a pod on that bridge)."""
    if cfg.host_network:
        return  # the host has its own default route; we add nothing to the host's namespace
    from minikube_py.network.netns import open_iproute

    with open_iproute(cfg.node_netns_path) as ipr:
        ipr.route("replace", dst=cfg.service_cidr, oif=ipr.link_lookup(ifname=net.bridge)[0])


def register_node(cfg: ClusterConfig) -> None:
    """The control plane's Node, made before its kubelet starts, carrying the pod CIDR the node
    network was built with: so the node-IPAM controller hands other nodes other /24s."""
    from minikube_py.api.client import Client
    from minikube_py.api.errors import ApiError

    c = Client.from_socket(cfg.api_socket, timeout=10)
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": cfg.node_name}}
    node["spec"] = {"podCIDR": cfg.pod_cidr, "podCIDRs": [cfg.pod_cidr]}
    try:
        c.create(node)
    except ApiError as e:
        if e.code != 409:
            raise
    finally:
        c.close()


def _child_setup() -> None:
    # Runs in the child between fork and exec (the supervisor is single-threaded, so this is safe).
    import prctl

    prctl.set_pdeathsig(signal.SIGTERM)


@dataclass
class Component:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    failures: int = 0
    next_start: float = 0.0
    started_at: float = 0.0


class Supervisor:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        self.components = [Component(n, a) for n, a in component_argvs(cfg)]
        self.stopping = False

    def _pid_path(self, name: str) -> str:
        return os.path.join(self.cfg.pid_dir, f"{name}.pid")

    def start(self, c: Component) -> None:
        logf = open(os.path.join(self.cfg.log_dir, f"{c.name}.log"), "ab")
        c.proc = subprocess.Popen(
            c.argv,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_setup,
            close_fds=True,
        )
        logf.close()
        c.started_at = time.monotonic()
        with open(self._pid_path(c.name), "w") as f:
            f.write(f"{c.proc.pid}\n")
        log.info("started %s (pid %d): %s", c.name, c.proc.pid, " ".join(c.argv[2:]))

    def _wait_api(self, c: Component, timeout: float = 60.0) -> None:
        ready = os.path.join(self.cfg.run_root, "apiserver.ready")
        deadline = time.monotonic() + timeout
        while not (os.path.exists(ready) and os.path.exists(self.cfg.api_socket)):
            if c.proc is not None and c.proc.poll() is not None:
                raise RuntimeError(
                    f"apiserver exited with {c.proc.returncode}; see {self.cfg.log_dir}/apiserver.log"
                )
            if time.monotonic() > deadline or self.stopping:
                raise RuntimeError("apiserver did not become ready")
            time.sleep(0.1)

    def run(self) -> int:
        cfg = self.cfg
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "stopping", True))
        os.makedirs(cfg.pid_dir, exist_ok=True)
        with open(cfg.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")
        try:
            # The node's network first: the kubelet and the proxy both work inside it.
            route_services(cfg, cfg.node_network().ensure())
            log.info("node network ready: %s", cfg.node_netns_path or "host namespace")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(cfg.run_root, "apiserver.ready"))
            rest = self.components
            if rest[0].name == "apiserver":  # a worker has none: its API is on another machine
                api, *rest = rest
                self.start(api)
                self._wait_api(api)
                register_node(cfg)
            for c in rest:
                self.start(c)
            self._watch()
        except Exception:
            log.exception("supervisor failed")
            return 1
        finally:
            self.stop_all()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(cfg.pid_file)
        return 0

    def _watch(self) -> None:
        """Restart what dies: 1 s, 2 s, 4 s ... 30 s; a run of 60 s resets the back-off."""
        while not self.stopping:
            now = time.monotonic()
            for c in self.components:
                if c.proc is not None and c.proc.poll() is not None:
                    code = c.proc.returncode
                    c.failures = 1 if now - c.started_at > 60 else c.failures + 1
                    delay = min(BACKOFF_MAX, 2.0 ** (c.failures - 1))
                    log.warning("%s exited with %s; restarting in %.0f s", c.name, code, delay)
                    c.proc, c.next_start = None, now + delay
                elif c.proc is None and now >= c.next_start:
                    self.start(c)
            time.sleep(0.5)

    def stop_all(self) -> None:
        """Reverse start order: the proxy removes its rules, the kubelet leaves its pods running
        (`mkpy down` drains them), the API server goes last."""
        for c in reversed(self.components):
            if c.proc is None or c.proc.poll() is not None:
                continue
            c.proc.terminate()
            try:
                c.proc.wait(20)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in 20 s: SIGKILL", c.name)
                c.proc.kill()
                c.proc.wait()
            log.info("stopped %s (exit %s)", c.name, c.proc.returncode)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._pid_path(c.name))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m minikube_py.cluster.supervisor RUN_ROOT", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    import prctl

    prctl.set_name("mkpy-supervisor")
    return Supervisor(ClusterConfig.load(argv[0])).run()


if __name__ == "__main__":
    sys.exit(main())
