"""A pod wired by Debian's real CNI bridge plugin (not by us) works with the proxier, hairpin included.

The proxier only needs what the CNI contract gives: a pod IP on the node's bridge. The plugin's
"hairpinMode": true is what lets this pod reach itself through its own Service.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from minikube_py.network.proxy import ClusterObjects, Proxier

from .conftest import CLUSTER_CIDR, NODE_BRIDGE_IP, PREFIX, http_get, ns_path, sh, wait_listening

pytestmark = [pytest.mark.integration, pytest.mark.vm]

CNI_PATH = "/usr/lib/cni"


def cni(node_netns: str, command: str, pod_ns: str, container_id: str, conf: dict) -> dict:
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": ns_path(pod_ns),
           "CNI_IFNAME": "eth0", "CNI_PATH": CNI_PATH, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    # The plugin makes the bridge and the host end of the veth in *its* namespace: the node's.
    proc = subprocess.run(["ip", "netns", "exec", node_netns, f"{CNI_PATH}/bridge"], input=json.dumps(conf),
                          env=env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"CNI {command} failed: {proc.stdout} {proc.stderr}")
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


@pytest.mark.skipif(not os.path.exists(f"{CNI_PATH}/bridge"), reason="containernetworking-plugins missing")
def test_cni_bridge_plugin_pod_reaches_itself_through_its_service(node, tmp_path):
    pod = f"{PREFIX}-c{uuid.uuid4().hex[:6]}"
    conf = {"cniVersion": "1.0.0", "name": "mkpyt-svc", "type": "bridge", "bridge": "mkpy0",
            "isGateway": True, "ipMasq": False, "hairpinMode": True,
            "ipam": {"type": "host-local", "dataDir": str(tmp_path / "ipam"),
                     "ranges": [[{"subnet": "10.244.0.0/24", "rangeStart": "10.244.0.100",
                                  "rangeEnd": "10.244.0.110", "gateway": NODE_BRIDGE_IP}]],
                     "routes": [{"dst": "0.0.0.0/0"}]}}
    sh("ip", "netns", "add", pod)
    server = None
    added = False
    objects = ClusterObjects()
    proxier = Proxier(objects, node.node_ns, cluster_cidr=CLUSTER_CIDR)
    try:
        result = cni(node.node, "ADD", pod, pod, conf)
        added = True
        ip = result["ips"][0]["address"].split("/")[0]
        host_veth = next(i["name"] for i in result["interfaces"] if i.get("mac") and "sandbox" not in i
                         and i["name"] != "mkpy0")
        # set by the plugin (the node fixture's set_hairpin ran before this port existed)
        assert "hairpin on" in sh("ip", "-n", node.node, "-d", "link", "show", host_veth)
        www = tmp_path / "www"
        www.mkdir()
        (www / "index.html").write_text("cni-pod\n")
        sh("ip", "-n", pod, "link", "set", "lo", "up")
        server = subprocess.Popen(["ip", "netns", "exec", pod, "/bin/busybox", "httpd", "-f", "-p", "3000",
                                   "-h", str(www)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spec = {"clusterIP": "10.96.0.60", "ports": [{"name": "http", "port": 80}]}
        objects.apply("Service", {"metadata": {"name": "cni", "namespace": "default"}, "spec": spec})
        objects.apply("Endpoints", {"metadata": {"name": "cni", "namespace": "default"},
                                    "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "http",
                                                                                        "port": 3000}]}]})
        proxier.sync()
        wait_listening(ns_path(pod), 3000)
        # the plugin set hairpin mode on the pod's bridge port; the SEP chain masquerades
        assert http_get(ns_path(pod), "10.96.0.60", 80, count=5) == ["cni-pod"] * 5
        assert http_get(node.pod_ns(0), "10.96.0.60", 80, count=3) == ["cni-pod"] * 3
    finally:
        proxier.teardown()
        if server is not None:
            server.kill()
            server.wait()
        if added:
            cni(node.node, "DEL", pod, pod, conf)
        subprocess.run(["ip", "netns", "del", pod], capture_output=True)
