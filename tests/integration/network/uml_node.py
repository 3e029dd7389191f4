"""The job each user-mode-linux VM runs in test_uml_cluster.py (not a test module itself).

    python uml_node.py a|b RESULTS_DIR

The VM is the node (host_network=True, as on a lab VM): its eth0 is on the uml_switch
LAN; node a has pod CIDR 10.244.0.0/24 at 192.168.60.2, node b 10.244.1.0/24 at
192.168.60.3, with host-gw routes to each other. b runs a listener in its pod and
one on its own LAN address; a's pod connects to both and each side writes what it
saw to RESULTS_DIR/<role>.json.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import time
import traceback

from minikube_py.network import NodeNetwork, create_netns
from minikube_py.network.netns import open_iproute, run_in_netns

NODES = {"a": ("10.244.0.0/24", "192.168.60.2"), "b": ("10.244.1.0/24", "192.168.60.3")}
PORT = 8080
DEADLINE = 240.0  # seconds: two slow kernels boot at their own pace


def setup(role: str) -> tuple[NodeNetwork, str, dict]:
    cidr, lan_ip = NODES[role]
    with open_iproute(None) as ipr:  # the VM's eth0 (the uml_switch port): address and up
        idx = ipr.link_lookup(ifname="eth0")[0]
        ipr.addr("add", index=idx, address=lan_ip, prefixlen=24)
        ipr.link("set", index=idx, state="up")
    node = NodeNetwork(
        f"uml-{role}", cidr, tempfile.mkdtemp(), host_network=True, cluster_cidr="10.244.0.0/16"
    )
    node.ensure()
    other = "b" if role == "a" else "a"
    node.set_peer_routes({NODES[other][0]: NODES[other][1]})
    pod = create_netns(f"/run/netns/pod-{role}")
    result = node.cni(node.write_conflist("mkpy"), "ADD", f"pod-{role}", pod)
    return node, pod, result


def serve(pod: str) -> dict:
    in_pod = run_in_netns(pod, lambda: socket.create_server(("0.0.0.0", PORT)))
    on_node = socket.create_server(("0.0.0.0", PORT + 1))
    seen = {}
    for name, srv in (("pod", in_pod), ("node", on_node)):
        srv.settimeout(DEADLINE)
        conn, (peer, _) = srv.accept()
        seen[name] = peer
        conn.sendall(b"ok")
        conn.close()
    return seen


def connect(pod: str, ip: str, port: int) -> str:
    end = time.monotonic() + DEADLINE
    while True:
        try:
            s = run_in_netns(pod, lambda: socket.create_connection((ip, port), timeout=5))
            reply = s.recv(2).decode()
            s.close()
            return reply
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def main() -> int:
    role, results = sys.argv[1], sys.argv[2]
    out: dict = {"role": role}
    try:
        _node, pod, result = setup(role)
        out["pod_ip"] = result["ips"][0]["address"]
        if role == "b":
            out["seen"] = serve(pod)
        else:
            out["to_pod"] = connect(pod, "10.244.1.2", PORT)
            out["to_node"] = connect(pod, NODES["b"][1], PORT + 1)
    except BaseException:  # noqa: BLE001 - reported to the host test through the file
        out["error"] = traceback.format_exc()
    with open(f"{results}/{role}.json", "w") as f:
        json.dump(out, f)
    return 0 if "error" not in out else 1


if __name__ == "__main__":
    sys.exit(main())
