"""Pod to pod across two nodes: host-gw vs VXLAN on the same two nodes, side by side.

    sudo /opt/mkpy/venv/bin/python benchmarks/multinode_backends.py [--rounds 3] [--mib 64]

Two node netns on one LAN (a Fabric), a pod on each (mkpy-cni). Each round measures, first with
host-gw routes and then with the VXLAN tunnel (the same pods; only the routes change, as the
route agent would), a TCP stream of --mib MiB and 2000 ping-pongs of 64 bytes on one connection.
The baseline is host-gw, measured in the same run; the ratio is what encapsulation costs here
(all in one kernel: no real wire, so the cost is the kernel's work, not bandwidth). Everything
lives in netns named mkpyb-mn-*, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from minikube_py.network import NodeNetwork, create_netns, delete_netns
from minikube_py.network.fabric import Fabric
from minikube_py.network.netns import netns_path, run_in_netns
from minikube_py.network.vxlan import Peer, Vxlan, vtep_ip


def serve(netns: str, ip: str) -> int:
    """A server in the pod: echo for ping-pong connections, sink for stream connections."""
    srv = run_in_netns(netns, lambda: socket.create_server((ip, 0)))

    def handle(conn: socket.socket) -> None:
        with conn:
            mode = conn.recv(1)
            if mode == b"e":
                while data := conn.recv(64):
                    conn.sendall(data)
            else:
                while conn.recv(1 << 20):
                    pass
                conn.sendall(b"k")

    def loop() -> None:
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


def measure(netns: str, ip: str, port: int, mib: int) -> tuple[float, float]:
    """(MiB/s of a stream, p50 round trip in µs)."""

    def go() -> tuple[float, float]:
        chunk = b"x" * (1 << 20)
        with socket.create_connection((ip, port), timeout=30) as s:
            s.sendall(b"s")
            t0 = time.perf_counter()
            for _ in range(mib):
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
            rate = mib / (time.perf_counter() - t0)
        rtts = []
        with socket.create_connection((ip, port), timeout=30) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(b"e")
            msg = b"p" * 64
            for _ in range(2000):
                t = time.perf_counter()
                s.sendall(msg)
                got = 0
                while got < 64:
                    got += len(s.recv(64 - got))
                rtts.append((time.perf_counter() - t) * 1e6)
        return rate, statistics.median(rtts)

    return run_in_netns(netns, go)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mib", type=int, default=64)
    args = ap.parse_args()
    uid = uuid.uuid4().hex[:5]
    root = tempfile.mkdtemp(prefix="mkpyb-mn-")
    lan = Fabric(f"mkpyb-mn-{uid}-lan", "192.168.51.0/24")
    nodes = {
        n: NodeNetwork(f"mkpyb-mn-{uid}-{n}", cidr, os.path.join(root, n), cluster_cidr="10.244.0.0/16",
                       uplink=lan.uplink(f"mkbmn{uid}{n}", host))
        for n, cidr, host in (("a", "10.244.1.0/24", 2), ("b", "10.244.2.0/24", 3))
    }  # fmt: skip
    node_ip = {"a": "192.168.51.2", "b": "192.168.51.3"}
    pods: dict[str, tuple[str, str]] = {}
    try:
        lan.ensure()
        for n in nodes.values():
            n.ensure()
        tunnels = {k: Vxlan(n.netns_path, node_ip[k], str(n.pod_cidr)) for k, n in nodes.items()}
        macs = {k: v.ensure() for k, v in tunnels.items()}
        for k, n in nodes.items():
            p = netns_path(f"mkpyb-mn-{uid}-pod-{k}")
            create_netns(p)
            res = n.cni(n.write_conflist(), "ADD", f"mkpyb-mn-{uid}-{k}", p)
            pods[k] = (p, res["ips"][0]["address"].split("/")[0])
        port = serve(pods["b"][0], pods["b"][1])

        def use(backend: str) -> None:
            for k, other in (("a", "b"), ("b", "a")):
                cidr = str(nodes[other].pod_cidr)
                if backend == "host-gw":
                    nodes[k].set_peer_routes({cidr: node_ip[other]}, (tunnels[k], {}))
                else:
                    peer = Peer(vtep_ip(cidr), macs[other], node_ip[other])
                    nodes[k].set_peer_routes({}, (tunnels[k], {cidr: peer}))

        results: dict[str, list[tuple[float, float]]] = {"host-gw": [], "vxlan": []}
        for _ in range(args.rounds):
            for backend in ("host-gw", "vxlan"):
                use(backend)
                results[backend].append(measure(pods["a"][0], pods["b"][1], port, args.mib))
        base_rate = statistics.median(r for r, _ in results["host-gw"])
        base_rtt = statistics.median(t for _, t in results["host-gw"])
        print(f"pod -> pod across two nodes, {args.rounds} rounds, {args.mib} MiB stream, 2000 x 64 B ping-pong")  # noqa: E501
        for backend, rows in results.items():
            rate = statistics.median(r for r, _ in rows)
            rtt = statistics.median(t for _, t in rows)
            print(f"  {backend:8} stream {rate:8.1f} MiB/s ({rate / base_rate:4.2f}x host-gw)   "
                  f"round trip p50 {rtt:7.1f} us ({rtt / base_rtt:4.2f}x host-gw)")  # fmt: skip
    finally:
        for k, (p, _) in pods.items():
            nodes[k].cni(nodes[k].write_conflist(), "DEL", f"mkpyb-mn-{uid}-{k}", p)
            delete_netns(p)
        for n in nodes.values():
            n.destroy()
        lan.destroy()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
