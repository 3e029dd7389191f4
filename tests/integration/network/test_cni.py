"""mkpy-cni + mkpy-ipam (and Debian's plugins through the same contract) on real namespaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from minikube_py.network.cni import invoke
from minikube_py.network.cni_plugin import brport_attr
from minikube_py.network.cni_types import ERR_CHECK_FAILED, CniError
from minikube_py.network.netns import open_iproute

from .conftest import can_connect, connect_from, listen, pod_ip, sh_in

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("flavour", ["mkpy", "debian", "mkpy-cni+host-local"])
def test_pod_to_pod_node_and_outside(flavour, nodes, pods):
    node = nodes.node(0)
    if flavour == "mkpy-cni+host-local":  # our plugin delegating IPAM to Debian's executable
        conf = json.loads(node.write_conflist("mkpy").read_text())
        conf["plugins"][0]["ipam"]["type"] = "host-local"
    else:
        conf = node.write_conflist(flavour)
    a, b = pods.new("a"), pods.new("b")
    ra = node.cni(conf, "ADD", "pod-a", a)
    rb = node.cni(conf, "ADD", "pod-b", b)
    try:
        assert ra["cniVersion"] == "1.0.0" and ra["interfaces"][2]["sandbox"] == a
        assert pod_ip(ra) != pod_ip(rb)
        if flavour == "mkpy-cni+host-local":  # host-local (Go) ends its lease files' lines with \r\n
            lease = node.cni_dir / "ipam" / "mkpy-mkpy" / pod_ip(ra)
            assert lease.read_bytes() == b"pod-a\r\neth0"
        assert f"{pod_ip(ra)}/24" in sh_in(a, "ip", "-br", "addr", "show", "eth0")
        assert "default via 10.244.0.1" in sh_in(a, "ip", "route")
        # pod <-> pod on one node keeps its source address
        srv = listen(b)
        try:
            assert connect_from(a, srv, pod_ip(rb)) == pod_ip(ra)
        finally:
            srv.close()
        # pod -> node (the gateway address on the bridge)
        srv = listen(node.netns_path)
        try:
            assert connect_from(a, srv, node.gateway) == pod_ip(ra)
        finally:
            srv.close()
        # pod -> outside the cluster: masqueraded to the node's LAN address
        srv = listen(nodes.lan.netns_path)
        try:
            assert connect_from(a, srv, nodes.lan.gateway) == node.uplink.ip
        finally:
            srv.close()
        node.cni(conf, "CHECK", "pod-a", a)
    finally:
        node.cni(conf, "DEL", "pod-a", a)
        node.cni(conf, "DEL", "pod-b", b)
    assert "eth0" not in sh_in(a, "ip", "-br", "link")


def test_hairpin_mode_is_on_and_a_pod_reaches_itself_through_a_nat_address(nodes, pods):
    node = nodes.node(0)
    conf = node.write_conflist("mkpy")
    a = pods.new("hp")
    r = node.cni(conf, "ADD", "pod-hp", a)
    try:
        port_name = r["interfaces"][1]["name"]
        with open_iproute(node.netns_path) as ipr:
            link = ipr.get_links(ipr.link_lookup(ifname=port_name)[0])[0]
            assert brport_attr(link, "IFLA_BRPORT_MODE") == 1
        # What a service does (the services work owns the real rules): a virtual IP DNATed back
        # to the pod, masqueraded because source and destination are the same pod.
        srv = listen(a)
        port = srv.getsockname()[1]
        ip = pod_ip(r)
        sh_in(
            node.netns_path,
            "iptables",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-d",
            "10.96.0.10",
            "-p",
            "tcp",
            "--dport",
            str(port),
            "-j",
            "DNAT",
            "--to-destination",
            f"{ip}:{port}",
        )
        sh_in(
            node.netns_path,
            "iptables",
            "-t",
            "nat",
            "-I",
            "POSTROUTING",
            "-s",
            ip,
            "-d",
            ip,
            "-j",
            "MASQUERADE",
        )
        try:
            assert connect_from(a, srv, "10.96.0.10") == node.gateway
            with open_iproute(node.netns_path) as ipr:  # without hairpin the frame cannot turn back
                ipr.brport("set", index=ipr.link_lookup(ifname=port_name)[0], mode=0)
            assert not can_connect(a, srv, "10.96.0.10", timeout=1)
        finally:
            srv.close()
    finally:
        node.cni(conf, "DEL", "pod-hp", a)


def test_check_catches_a_deleted_route_and_del_is_idempotent(nodes, pods):
    node = nodes.node(0, mtu=1400)
    conf = node.write_conflist("mkpy")
    a = pods.new("chk")
    node.cni(conf, "ADD", "pod-chk", a)
    node.cni(conf, "CHECK", "pod-chk", a)
    assert "mtu 1400" in sh_in(a, "ip", "link", "show", "eth0")
    # a second ADD without DEL is refused and leaves the first one intact
    with pytest.raises(CniError, match="twice"):
        node.cni(conf, "ADD", "pod-chk", a)
    node.cni(conf, "CHECK", "pod-chk", a)
    sh_in(a, "ip", "route", "del", "default")
    with pytest.raises(CniError) as err:
        node.cni(conf, "CHECK", "pod-chk", a)
    assert err.value.code == ERR_CHECK_FAILED and "0.0.0.0/0" in err.value.msg
    node.cni(conf, "DEL", "pod-chk", a)
    node.cni(conf, "DEL", "pod-chk", a)  # again
    node.cni(conf, "DEL", "never-added", a)  # never there
    node.cni(conf, "DEL", "pod-chk", "/run/netns/mkpyt-net-gone")  # netns already gone
    assert not [f for f in os.listdir(node.cni_dir / "ipam" / "mkpy-mkpy") if f[0].isdigit()]


def test_ipam_survives_restarts_and_never_hands_out_an_address_twice(nodes, pods):
    node = nodes.node(0)
    conf = node.write_conflist("mkpy")
    a, b, c = pods.new("r1"), pods.new("r2"), pods.new("r3")
    ip_a = pod_ip(node.cni(conf, "ADD", "r1", a))
    # "restart": a new agent object for the same node; the allocation files are the truth
    again = nodes.spec(0).ensure()
    conf = again.write_conflist("mkpy")
    ip_b = pod_ip(again.cni(conf, "ADD", "r2", b))
    assert ip_b != ip_a
    again.cni(conf, "DEL", "r1", a)
    ip_c = pod_ip(again.cni(conf, "ADD", "r3", c))
    assert ip_c not in (ip_a, ip_b)  # round robin: a just-freed address is not reused at once
    data = again.cni_dir / "ipam" / "mkpy-mkpy"
    assert sorted(p for p in os.listdir(data) if p[0].isdigit()) == sorted([ip_b, ip_c])
    assert (data / ip_c).read_text() == "r3\neth0"
    for cid, ns in (("r2", b), ("r3", c)):
        again.cni(conf, "DEL", cid, ns)


def test_ten_concurrent_adds_get_ten_addresses(nodes, pods):
    node = nodes.node(0)
    conf = node.write_conflist("mkpy")
    sandboxes = [pods.new(f"c{i}") for i in range(10)]
    results: dict[int, dict | Exception] = {}

    def add(i: int) -> None:
        try:
            results[i] = node.cni(conf, "ADD", f"conc-{i}", sandboxes[i])
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            results[i] = exc

    threads = [threading.Thread(target=add, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert all(isinstance(r, dict) for r in results.values()), results
        ips = {pod_ip(r) for r in results.values()}
        assert len(ips) == 10
        for i, ns in enumerate(sandboxes):
            assert pod_ip(results[i]) + "/24" in sh_in(ns, "ip", "-br", "addr", "show", "eth0")
    finally:
        for i, ns in enumerate(sandboxes):
            node.cni(conf, "DEL", f"conc-{i}", ns)


@pytest.mark.vm
def test_debian_plugins_with_a_host_port(nodes, pods):
    """bridge + host-local + portmap + loopback from containernetworking-plugins, as a drop-in."""
    node = nodes.node(0)
    conf = node.write_conflist("debian")
    a = pods.new("deb")
    srv = listen(a)
    port = srv.getsockname()[1]
    mapping = [{"hostPort": 30080, "containerPort": port, "protocol": "tcp"}]
    r = node.cni(conf, "ADD", "deb", a, runtime_config={"portMappings": mapping})
    try:
        assert "lo" in sh_in(a, "ip", "-br", "link", "show", "up")
        # (no CHECK here: Debian's portmap 1.1 CHECK also looks for an IPv6 chain it never made)
        # From the LAN, the node's address and host port reach the pod (portmap's DNAT).
        client = _connect_port(nodes.lan.netns_path, node.uplink.ip, 30080)
        conn, _ = srv.accept()
        conn.close()
        client.close()
        assert pod_ip(r).startswith("10.244.0.")
    finally:
        srv.close()
        node.cni(conf, "DEL", "deb", a, runtime_config={"portMappings": mapping})
    assert "CNI-DN-" not in sh_in(node.netns_path, "iptables-save", "-t", "nat")


def _connect_port(netns, ip, port):
    import socket

    from minikube_py.network.netns import run_in_netns

    return run_in_netns(netns, lambda: socket.create_connection((ip, port), timeout=5))


def test_the_executable_speaks_cni_json(nodes, pods, tmp_path):
    env = dict(os.environ, CNI_COMMAND="VERSION")
    out = subprocess.run(
        [sys.executable, "-m", "minikube_py.network.cni_plugin"],
        env=env,
        input=b"",
        capture_output=True,
        check=True,
    )
    assert "1.0.0" in json.loads(out.stdout)["supportedVersions"]
    env = dict(os.environ, CNI_COMMAND="ADD", CNI_CONTAINERID="x", CNI_IFNAME="eth0", CNI_PATH="/nonexistent")
    bad = subprocess.run(
        [sys.executable, "-m", "minikube_py.network.cni_plugin"],
        env=env,
        input=b'{"cniVersion":"1.0.0","name":"n","type":"mkpy-cni"}',
        capture_output=True,
    )
    assert bad.returncode != 0 and json.loads(bad.stdout)["code"] == 4  # CNI_NETNS missing
    env["CNI_NETNS"] = "/run/netns/none"
    bad = subprocess.run(
        [sys.executable, "-m", "minikube_py.network.cni_plugin"],
        env=env,
        input=b'{"cniVersion":"1.0.0","name":"n","type":"mkpy-cni","mtu":"big","ipam":{}}',
        capture_output=True,
    )
    err = json.loads(bad.stdout)
    assert err["code"] == 7 and "mtu" in err["msg"]
    with pytest.raises(CniError) as exc:
        invoke(
            {"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "no-such-plugin"}]},
            "ADD",
            "c",
            "/run/netns/none",
            cni_path=[str(tmp_path)],
            cache_dir=str(tmp_path),
        )
    assert "no-such-plugin" in str(exc.value)
