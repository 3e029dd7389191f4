"""200 ADD/DEL cycles leave nothing behind: links, addresses, routes, rules, netns, IPAM files.

The cycles run the plugin's handler in-process (inside the node namespace) so the test
measures leaks, not 400 Python start-ups; the IPAM is still the mkpy-ipam executable,
found on CNI_PATH, and every cycle makes and removes a real pod namespace.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from minikube_py.network import create_netns, delete_netns, netfilter
from minikube_py.network.cni_plugin import handle
from minikube_py.network.cni_types import CniEnv

from .conftest import netns_inventory

pytestmark = pytest.mark.integration

CYCLES = int(os.environ.get("MKPY_NET_CYCLES", "200"))


def test_add_del_cycles_leave_no_trace(nodes, uid):
    node = nodes.node(0)
    conflist = json.loads(node.write_conflist("mkpy").read_text())
    conf = dict(conflist["plugins"][0], name=conflist["name"], cniVersion=conflist["cniVersion"])
    path = node.cni_path()
    before = netns_inventory(node.netns_path)
    rules_before = netfilter.save(node.netns_path, "nat") + netfilter.save(node.netns_path, "filter")
    t0 = time.monotonic()
    for i in range(CYCLES):
        pod = create_netns(f"/run/netns/mkpyt-net-{uid}-cyc")
        try:
            env = CniEnv("ADD", f"cycle-{i}", pod, "eth0", "", path)
            result = handle(env, conf, here=node.netns_path)
            assert result and result["ips"]
            env.command = "DEL"
            handle(env, conf, here=node.netns_path)
        finally:
            delete_netns(pod)
    seconds = time.monotonic() - t0
    after = netns_inventory(node.netns_path)
    assert after == before
    rules_after = netfilter.save(node.netns_path, "nat") + netfilter.save(node.netns_path, "filter")
    strip = lambda text: [ln for ln in text.splitlines() if not ln.startswith("#")]  # noqa: E731
    assert strip(rules_after) == strip(rules_before)
    data = node.cni_dir / "ipam" / "mkpy-mkpy"
    assert not [f for f in os.listdir(data) if f[0].isdigit()]
    print(f"{CYCLES} ADD/DEL cycles in {seconds:.1f}s ({1000 * seconds / CYCLES:.0f} ms per cycle)")
