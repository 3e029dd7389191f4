"""A small node for the services tests: a node netns with a bridge, three pod netns, an outside netns.

    ext (192.168.77.1) ── eth0 (192.168.77.2) [node netns: bridge mkpy0 10.244.0.1/24] ── pod1..pod3
                                                                                         10.244.0.11-13
Pods are wired with plain `ip` (test code may), independent of the project's own CNI plugin,
and each runs busybox httpd on port 3000 whose index page names the pod. Everything carries
the prefix mkpyt-svc and is removed at the end of the session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field

import pytest

from minikube_py.network.proxy.hairpin import set_hairpin
from minikube_py.network.proxy.netns import run_in_netns

PREFIX = "mkpyt-svc"
POD_IPS = ["10.244.0.11", "10.244.0.12", "10.244.0.13"]
NODE_BRIDGE_IP = "10.244.0.1"
NODE_IP = "192.168.77.2"
EXT_IP = "192.168.77.1"
LB_POOL = "192.168.77.200-192.168.77.210"
CLUSTER_CIDR = "10.244.0.0/16"


def sh(*argv: str, input: str | None = None) -> str:
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def ns_path(name: str) -> str:
    return f"/run/netns/{name}"


@dataclass
class Node:
    node: str
    ext: str
    pods: list[str]
    tmp: str
    servers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def node_ns(self) -> str:
        return ns_path(self.node)

    @property
    def ext_ns(self) -> str:
        return ns_path(self.ext)

    def pod_ns(self, i: int) -> str:
        return ns_path(self.pods[i])


def http_get(netns: str, ip: str, port: int, count: int = 1, timeout: float = 5.0,
             path: str = "/") -> list[str]:
    """`count` fresh HTTP/1.0 requests from inside `netns`; the bodies (stripped) in order.

    Each request is a new TCP connection, so a new conntrack entry and a new random pick.
    """

    def work() -> list[str]:
        bodies = []
        for _ in range(count):
            with socket.create_connection((ip, port), timeout=timeout) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0]:
                raise AssertionError(f"bad answer from {ip}:{port}: {data[:200]!r}")
            bodies.append(body.decode().strip())
        return bodies

    return run_in_netns(netns, work)


def wait_listening(netns: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            http_get(netns, "127.0.0.1", port, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def build_node(tmp: str) -> Node:
    tag = uuid.uuid4().hex[:6]
    n = Node(node=f"{PREFIX}-n{tag}", ext=f"{PREFIX}-x{tag}", pods=[f"{PREFIX}-p{i}{tag}" for i in (1, 2, 3)],
             tmp=tmp)
    try:
        _wire(n)
    except BaseException:
        destroy_node(n)
        raise
    return n


def _wire(n: Node) -> None:
    for name in (n.node, n.ext, *n.pods):
        sh("ip", "netns", "add", name)
    node_cmds = [
        "link set lo up",
        "link add mkpy0 type bridge",
        f"addr add {NODE_BRIDGE_IP}/24 dev mkpy0",
        "link set mkpy0 up",
        f"link add eth0 type veth peer name up0 netns {n.ext}",
        f"addr add {NODE_IP}/24 dev eth0",
        "link set eth0 up",
        f"route add default via {EXT_IP}",
    ]
    for i, pod in enumerate(n.pods):
        node_cmds += [f"link add veth{i + 1} type veth peer name eth0 netns {pod}",
                      f"link set veth{i + 1} master mkpy0", f"link set veth{i + 1} up"]
    sh("ip", "-n", n.node, "-batch", "-", input="\n".join(node_cmds) + "\n")
    sh("ip", "-n", n.ext, "-batch", "-",
       input=f"link set lo up\naddr add {EXT_IP}/24 dev up0\nlink set up0 up\n")
    for i, pod in enumerate(n.pods):
        sh("ip", "-n", pod, "-batch", "-", input=(
            f"link set lo up\naddr add {POD_IPS[i]}/24 dev eth0\nlink set eth0 up\n"
            f"route add default via {NODE_BRIDGE_IP}\n"))
    sh("ip", "netns", "exec", n.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    # What the CNI bridge plugin's "hairpinMode": true does: a pod may reach itself via its service.
    assert len(set_hairpin(n.node_ns, "mkpy0")) == 3
    for i, pod in enumerate(n.pods):
        www = os.path.join(n.tmp, f"www{i + 1}")
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write(f"pod-{i + 1}\n")
        # GET /cgi-bin/ip answers the client address the pod sees (masqueraded or not)
        os.makedirs(os.path.join(www, "cgi-bin"))
        with open(os.path.join(www, "cgi-bin", "ip"), "w") as f:
            f.write('#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$REMOTE_ADDR"\n')
        os.chmod(os.path.join(www, "cgi-bin", "ip"), 0o755)
        n.servers.append(subprocess.Popen(["ip", "netns", "exec", pod, "/bin/busybox", "httpd", "-f",
                                           "-p", "3000", "-h", www], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
    for i in range(3):
        wait_listening(n.pod_ns(i), 3000)


def destroy_node(n: Node) -> None:
    for proc in n.servers:
        proc.kill()
        proc.wait()
    for name in (*n.pods, n.ext, n.node):
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture(scope="session")
def node(tmp_path_factory):
    """One node for the whole session: building it costs seconds in the VM lane. Tests leave it
    as they found it (their own fixtures remove every rule they load)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    n = build_node(str(tmp_path_factory.mktemp("mkpyt-svc")))
    try:
        yield n
    finally:
        destroy_node(n)
