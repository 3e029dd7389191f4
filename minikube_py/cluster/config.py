"""Where a cluster lives: every path and port `mkpy up` uses, in one object saved as JSON.

`mkpy up` writes it to <run root>/cluster.json; the supervisor, `mkpy down`, `mkpy status` and
`mkpy demo` read it back from there, so a cluster started with test paths is stopped with them.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, fields


class ClusterError(Exception):
    """Something `mkpy up/down/status` could not do; the message says what and where to look."""


@dataclass
class ClusterConfig:
    state_root: str = "/var/lib/mkpy"  # images, kubelet, API store, registry data
    run_root: str = "/run/mkpy"  # sockets, pid files, runtime state (gone at reboot)
    log_dir: str = "/var/log/mkpy"  # one log per component; pod logs under pods/
    kubeconfig: str = "/etc/mkpy/admin.kubeconfig"
    node_name: str = ""  # default: the host name
    node_netns: str = "mkpy-node"  # the node's network namespace (/run/netns/<name>)
    host_network: bool = False  # True: the node is the host itself (a lab VM only)
    netns_prefix: str = "mkpy-pod-"  # pod netns files /run/netns/<prefix><pod>
    api_port: int = 6443
    kubelet_port: int = 10250
    pod_cidr: str = "10.244.0.0/24"
    cluster_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"  # the API server's default ClusterIP range
    cluster_dns: str = "10.96.0.10"
    lb_pool: str = "192.168.77.200-192.168.77.250"
    ingress_port: int = 80  # the ingress controller's HTTP port in the node namespace
    ingress_tls_port: int = 443  # ... and its HTTPS port (spec.tls of the Ingresses)
    # -- several machines (docs/multi-node.md) ------------------------------------
    role: str = "control-plane"  # or "worker": only kubelet + proxy, against `server`
    server: str = ""  # worker: https://<control plane>:6443
    advertise_address: str = ""  # control plane: the LAN IP other nodes reach the API at
    node_ip: str = ""  # this node's LAN IP (its InternalIP; host-gw routes point at it)
    backend: str = "auto"  # routes to other nodes' pods: host-gw, vxlan, or auto (per peer)
    store: str = ""  # "" = SQLite under the state root; or etcd://h1:2379[,h2:2379...]
    node_monitor_grace_period: float = 40.0  # silent this long -> NotReady
    pod_eviction_timeout: float = 300.0  # NotReady this long -> its pods are evicted

    def __post_init__(self) -> None:
        if self.role not in ("control-plane", "worker"):
            raise ClusterError(f"role: {self.role!r} is neither control-plane nor worker")
        if self.role == "worker" and not self.server.startswith("https://"):
            raise ClusterError(f"server: a worker needs https://<control plane>:<port>, not {self.server!r}")
        if self.store and not self.store.startswith(("etcd://", "sqlite://")):
            raise ClusterError(f"store: {self.store!r} is neither etcd://HOST:PORT[,...] nor sqlite:///PATH")
        if self.backend not in ("auto", "host-gw", "vxlan"):
            raise ClusterError(f"backend: {self.backend!r} is not auto, host-gw or vxlan")
        if not self.node_ip:
            self.node_ip = self.advertise_address
        if not self.node_name:
            self.node_name = socket.gethostname().lower()
        for f in ("state_root", "run_root", "log_dir", "kubeconfig"):
            setattr(self, f, os.path.abspath(getattr(self, f)))

    # -- derived paths -----------------------------------------------------------
    @property
    def config_file(self) -> str:
        return os.path.join(self.run_root, "cluster.json")

    @property
    def pid_file(self) -> str:
        return os.path.join(self.run_root, "supervisor.pid")

    @property
    def pid_dir(self) -> str:
        return os.path.join(self.run_root, "pids")

    @property
    def api_socket(self) -> str:
        return os.path.join(self.run_root, "apiserver.sock")

    @property
    def api_url(self) -> str:
        if self.role == "worker":
            return self.server
        return f"https://{self.advertise_address or '127.0.0.1'}:{self.api_port}"

    @property
    def node_kubeconfig(self) -> str:
        """A worker's credential from `mkpy node join` (system:node:<name>)."""
        return os.path.join(self.state_root, "node.kubeconfig")

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite://{self.apiserver_dir}/state.db"

    @property
    def apiserver_dir(self) -> str:
        return os.path.join(self.state_root, "apiserver")

    @property
    def kubelet_root(self) -> str:
        return os.path.join(self.state_root, "kubelet")

    @property
    def runtime_root(self) -> str:
        return os.path.join(self.run_root, "runtime")

    @property
    def pod_log_root(self) -> str:
        return os.path.join(self.log_dir, "pods")

    @property
    def hosts_dir(self) -> str:
        """Registry name -> URL (containerd's certs.d format), read by every ImageStore on this root."""
        return os.path.join(self.state_root, "certs.d")

    @property
    def node_netns_path(self) -> str | None:
        return None if self.host_network else f"/run/netns/{self.node_netns}"

    @property
    def gateway(self) -> str:
        """The bridge's address: the pods' gateway, and where cluster DNS listens."""
        import ipaddress

        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))

    @property
    def pod_mtu(self) -> int:
        """Pods' MTU: with VXLAN possible (a machine of a multi-node cluster, backend vxlan or auto)
        1450, so a full-size pod packet still fits the tunnel's 50 bytes of headers (flannel's)."""
        from minikube_py.network.vxlan import OVERHEAD

        vxlan = self.host_network and self.node_ip and self.backend != "host-gw"
        return 1500 - OVERHEAD if vxlan else 1500

    def node_network(self):  # -> minikube_py.network.NodeNetwork
        from minikube_py.network import NodeNetwork

        # The same state dir the kubelet gives it (kubelet/cli.py), so both see one CNI dir.
        return NodeNetwork(
            self.node_netns,
            self.pod_cidr,
            os.path.join(self.kubelet_root, "network"),
            host_network=self.host_network,
            cluster_cidr=self.cluster_cidr,
            mtu=self.pod_mtu,
        )

    # -- saved form --------------------------------------------------------------
    def save(self) -> None:
        os.makedirs(self.run_root, exist_ok=True)
        tmp = self.config_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(asdict(self), f, indent=2)
        os.replace(tmp, self.config_file)

    @classmethod
    def load(cls, run_root: str) -> ClusterConfig:
        path = os.path.join(run_root, "cluster.json")
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ClusterError(f"no cluster here: {path} does not exist (is it up? try `mkpy up`)") from None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
