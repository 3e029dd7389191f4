"""host_network=True: the node's network in the machine's own namespace (a lab VM's mode).

Only in the VM lane: there, "the host" is the user-mode-linux kernel, which is
exactly the dedicated VM this mode is for; the developer's host is never touched.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

from minikube_py.network import NodeNetwork, create_netns, delete_netns, netfilter
from minikube_py.network.netns import read_sysctl, run_in_netns

pytestmark = [pytest.mark.integration, pytest.mark.vm_only]


def test_host_network_node_wires_pods_and_cleans_up(tmp_path):
    node = NodeNetwork("mkpyt-net-hostnode", "10.244.9.0/24", tmp_path, host_network=True, bridge="mkpyt0")
    pod = None
    try:
        node.ensure()
        assert node.netns_path is None
        assert read_sysctl(None, "net.ipv4.ip_forward") == "1"
        assert "MKPY-POSTROUTING -s 10.244.9.0/24" in netfilter.save(None, "nat")
        conf = node.write_conflist("mkpy")
        pod = create_netns("/run/netns/mkpyt-net-hostpod")
        result = node.cni(conf, "ADD", "hp", pod)
        ip = result["ips"][0]["address"].split("/")[0]
        srv = socket.create_server(("10.244.9.1", 0))  # the node itself, listening on the bridge address
        srv.settimeout(10)
        try:
            client = run_in_netns(
                pod, lambda: socket.create_connection(("10.244.9.1", srv.getsockname()[1]), 5)
            )
            conn, (peer, _) = srv.accept()
            conn.close()
            client.close()
            assert peer == ip
        finally:
            srv.close()
        node.cni(conf, "DEL", "hp", pod)
    finally:
        if pod:
            delete_netns(pod)
        node.destroy()
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert "mkpyt0" not in links
    assert "MKPY" not in netfilter.save(None, "nat") + netfilter.save(None, "filter")
