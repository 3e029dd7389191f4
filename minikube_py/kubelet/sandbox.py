"""The pod sandbox: what every container of a pod shares.

  * a network namespace (a file bind-mounted under the netns dir, like `ip netns`),
    wired by CNI through the node's network when there is one (else only `lo`);
  * an *infra* container (Kubernetes' "pause") that owns the pod's IPC and UTS
    namespaces, with hostname = pod name; app containers join them through
    /proc/<infra pid>/ns/{ipc,uts}, and join the netns file directly;
  * files bind-mounted into each container: /etc/hosts, /etc/resolv.conf, /etc/hostname.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from minikube_py.kubelet import qos
from minikube_py.kubelet.ociconfig import MASKED_PATHS, READONLY_PATHS, bind_mount


class SandboxError(Exception):
    """The pod's sandbox could not be made."""


@dataclass
class SandboxRecord:
    """What the kubelet keeps on disk about a sandbox (so a restarted kubelet finds it)."""
    infra_id: str = ""
    netns_path: str = ""
    pod_ips: list[str] = field(default_factory=list)
    cni: bool = False
    attempt: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def hosts_file(pod: dict, pod_ips: list[str]) -> str:
    """kubelet's managed /etc/hosts: localhost lines, the pod's own name, hostAliases."""
    spec = pod["spec"]
    hostname = spec.get("hostname") or pod["metadata"]["name"]
    lines = ["# Kubernetes-managed hosts file (minikube_py).",
             "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes",
             "fe00::2\tip6-allrouters"]
    fqdn = hostname
    if spec.get("subdomain"):
        ns = pod["metadata"].get("namespace", "default")
        fqdn = f"{hostname}.{spec['subdomain']}.{ns}.svc.cluster.local"
    for ip in pod_ips:
        lines.append(f"{ip}\t{fqdn}" + (f"\t{hostname}" if fqdn != hostname else ""))
    for alias in spec.get("hostAliases") or []:
        names = "\t".join(alias.get("hostnames") or [])
        lines.append(f"\n# Entries added by HostAliases.\n{alias['ip']}\t{names}")
    return "\n".join(lines) + "\n"


def resolv_conf(pod: dict, cluster_dns: list[str], cluster_domain: str = "cluster.local",
                host_resolv: str = "/etc/resolv.conf") -> str:
    """dnsPolicy: ClusterFirst (cluster DNS + search path, once there is cluster DNS), Default
    (the node's resolv.conf), None (only dnsConfig)."""
    spec = pod["spec"]
    policy = spec.get("dnsPolicy", "ClusterFirst")
    ns = pod["metadata"].get("namespace", "default")
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and cluster_dns:
        servers = list(cluster_dns)
        searches = [f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]
        options = ["ndots:5"]
    elif policy != "None":
        try:
            with open(host_resolv) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2 and parts[0] == "nameserver":
                        servers.append(parts[1])
                    elif parts and parts[0] == "search":
                        searches.extend(parts[1:])
        except FileNotFoundError:
            pass
    cfg = spec.get("dnsConfig") or {}
    servers += cfg.get("nameservers") or []
    searches += cfg.get("searches") or []
    options += [o["name"] + (f":{o['value']}" if o.get("value") else "") for o in cfg.get("options") or []]
    out = [f"nameserver {s}" for s in servers[:3]]
    if searches:
        out.append("search " + " ".join(searches))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


def write_pod_files(pod_dir: str, pod: dict, pod_ips: list[str], cluster_dns: list[str]) -> None:
    os.makedirs(pod_dir, exist_ok=True)
    for name, text in (("etc-hosts", hosts_file(pod, pod_ips)),
                       ("resolv.conf", resolv_conf(pod, cluster_dns)),
                       ("hostname", (pod["spec"].get("hostname") or pod["metadata"]["name"]) + "\n")):
        tmp = os.path.join(pod_dir, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(pod_dir, name))


def pod_file_mounts(pod_dir: str) -> list[dict]:
    return [bind_mount(os.path.join(pod_dir, "etc-hosts"), "/etc/hosts"),
            bind_mount(os.path.join(pod_dir, "resolv.conf"), "/etc/resolv.conf", readonly=True),
            bind_mount(os.path.join(pod_dir, "hostname"), "/etc/hostname", readonly=True)]


def infra_config(pod: dict, infra_id: str, rootfs: str, overlay: dict, netns_path: str | None,
                 argv: list[str]) -> dict:
    """The pause container: new IPC/UTS/PID namespaces, the pod netns, hostname = pod name,
    and nothing to do but sleep. It is the last to die when the OOM killer looks (-998)."""
    hostname = pod["spec"].get("hostname") or pod["metadata"]["name"]
    namespaces = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    if netns_path:
        namespaces.append({"type": "network", "path": netns_path})
    caps: list[str] = []
    meta = pod["metadata"]
    return {
        "ociVersion": "1.0.2",
        "hostname": hostname[:63],
        "process": {"terminal": False, "user": {"uid": 65534, "gid": 65534}, "args": argv,
                    "env": ["PATH=/bin:/usr/bin"], "cwd": "/", "noNewPrivileges": True,
                    "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                    "oomScoreAdj": qos.POD_INFRA_OOM_SCORE_ADJ},
        "root": {"path": rootfs, "readonly": True},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc",
                    "options": ["nosuid", "noexec", "nodev"]},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}],
        "linux": {"namespaces": namespaces, "resources": {"cpu": {"shares": 2}},
                  "cgroupsPath": qos.container_cgroup_path(pod, infra_id),
                  "maskedPaths": list(MASKED_PATHS), "readonlyPaths": list(READONLY_PATHS)},
        "annotations": {"io.kubernetes.pod.name": meta["name"],
                        "io.kubernetes.pod.namespace": meta.get("namespace", "default"),
                        "io.kubernetes.pod.uid": meta.get("uid", ""),
                        "io.kubernetes.cri.container-type": "sandbox",
                        "mkpy.io/overlay": json.dumps(overlay)},
    }


def set_loopback_up(netns_path: str) -> None:
    """A fresh netns has `lo` down; a pod without CNI still needs 127.0.0.1."""
    from minikube_py.network.netns import open_iproute

    ipr = open_iproute(netns_path)
    try:
        idx = ipr.link_lookup(ifname="lo")[0]
        ipr.link("set", index=idx, state="up")
    finally:
        ipr.close()
