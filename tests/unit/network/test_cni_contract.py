"""CNI contract pieces without a kernel: env/config checks, names, conflists, chain invocation."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from minikube_py.network import NetworkError, NodeNetwork
from minikube_py.network.addressing import host_veth_name, stable_mac
from minikube_py.network.cni import invoke, load_conflist
from minikube_py.network.cni_plugin import parse_options
from minikube_py.network.cni_types import (
    ERR_DECODE,
    ERR_INCOMPATIBLE_VERSION,
    ERR_INVALID_CONFIG,
    ERR_INVALID_ENV,
    CniError,
    parse_config,
    read_env,
    shape_result,
)


def test_env_checks_follow_the_command():
    with pytest.raises(CniError) as err:
        read_env({"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "x"})
    assert err.value.code == ERR_INVALID_ENV and "CNI_NETNS" in err.value.msg
    env = read_env({"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "x", "CNI_IFNAME": "eth0", "CNI_PATH": "/a:/b"})
    assert env.netns == "" and env.path == ["/a", "/b"]
    with pytest.raises(CniError):
        read_env({"CNI_COMMAND": "FROB"})


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"{", ERR_DECODE),
        (b"[]", ERR_DECODE),
        (b'{"cniVersion":"9.9.9","name":"n","type":"t"}', ERR_INCOMPATIBLE_VERSION),
        (b'{"cniVersion":"1.0.0","type":"t"}', ERR_INVALID_CONFIG),
    ],
)
def test_config_errors_carry_spec_codes(raw, code):
    with pytest.raises(CniError) as err:
        parse_config(raw)
    assert err.value.code == code


def test_plugin_options_are_validated():
    ok = parse_options({"ipam": {"type": "mkpy-ipam"}})
    assert ok.bridge == "mkpy0" and ok.hairpin and ok.mtu == 1500
    for bad, field in [
        ({"ipam": {"type": "x"}, "bridge": "x" * 16}, "bridge"),
        ({"ipam": {"type": "x"}, "mtu": True}, "mtu"),
        ({"ipam": {"type": "x"}, "hairpinMode": "yes"}, "hairpinMode"),
        ({"ipam": {}}, "ipam.type"),
    ]:
        with pytest.raises(CniError, match=field):
            parse_options(bad)


def test_host_veth_names_are_deterministic_and_fit_ifnamsiz():
    a = host_veth_name("abc", "eth0")
    assert a == host_veth_name("abc", "eth0") and len(a) <= 15 and a.startswith("veth")
    assert a != host_veth_name("abc", "eth1") and a != host_veth_name("abd", "eth0")
    mac = stable_mac("node/mkpy0")
    assert mac == stable_mac("node/mkpy0") and int(mac[:2], 16) & 0b11 == 0b10  # local, unicast


def test_results_for_older_versions_name_the_ip_family():
    r = shape_result({"ips": [{"address": "10.0.0.2/24"}]}, "0.4.0")
    assert r["ips"][0]["version"] == "4" and r["cniVersion"] == "0.4.0"
    assert "version" not in shape_result({"ips": [{"address": "10.0.0.2/24"}]}, "1.0.0")["ips"][0]


def test_conflist_loading(tmp_path):
    single = tmp_path / "10-one.conf"
    single.write_text(json.dumps({"cniVersion": "1.0.0", "name": "one", "type": "bridge"}))
    assert load_conflist(single)["plugins"][0]["type"] == "bridge"
    for bad in [
        {"cniVersion": "1.0.0", "name": "x", "plugins": []},
        {"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": ""}]},
        {"cniVersion": "0.1.0", "name": "x", "plugins": [{"type": "a"}]},
    ]:
        with pytest.raises(CniError):
            load_conflist(bad)


FAKE_PLUGIN = """#!{python}
import json, os, sys
conf = json.load(sys.stdin)
cmd = os.environ["CNI_COMMAND"]
with open(os.environ["LOG"], "a") as f:
    f.write(json.dumps({{"type": conf["type"], "cmd": cmd, "prev": conf.get("prevResult"),
                        "rc": conf.get("runtimeConfig"), "args": os.environ.get("CNI_ARGS")}}) + "\\n")
if conf.get("fail") == cmd:
    print(json.dumps({{"cniVersion": "1.0.0", "code": 111, "msg": "told to fail"}})); sys.exit(1)
if cmd == "ADD":
    prev = conf.get("prevResult") or {{"cniVersion": "1.0.0", "ips": []}}
    prev.setdefault("seen", []).append(conf["type"])
    print(json.dumps(prev))
"""


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("first", "second", "third"):
        p = bin_dir / name
        p.write_text(FAKE_PLUGIN.format(python=sys.executable))
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "log"
    monkeypatch.setenv("LOG", str(log))
    return bin_dir, log


def _log(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_invoke_runs_a_chain_like_libcni(fake_plugins, tmp_path):
    bin_dir, log = fake_plugins
    conf = {
        "cniVersion": "1.0.0",
        "name": "chain",
        "plugins": [
            {"type": "first"},
            {"type": "second", "capabilities": {"portMappings": True}},
            {"type": "third"},
        ],
    }
    kw = {"cni_path": [str(bin_dir)], "cache_dir": str(tmp_path / "cache")}
    result = invoke(
        conf,
        "ADD",
        "c1",
        "/run/netns/x",
        runtime_config={"portMappings": [1], "bandwidth": 2},
        args={"K8S_POD_NAME": "p"},
        **kw,
    )
    assert result["seen"] == ["first", "second", "third"]
    calls = _log(log)
    assert [c["prev"] is None for c in calls] == [True, False, False]
    assert [c["rc"] for c in calls] == [None, {"portMappings": [1]}, None]  # only to the capable plugin
    assert calls[0]["args"] == "K8S_POD_NAME=p"
    log.unlink()
    invoke(conf, "CHECK", "c1", "/run/netns/x", **kw)
    invoke(conf, "DEL", "c1", "/run/netns/x", **kw)
    calls = _log(log)
    assert [(c["type"], c["cmd"]) for c in calls] == [
        ("first", "CHECK"),
        ("second", "CHECK"),
        ("third", "CHECK"),
        ("third", "DEL"),
        ("second", "DEL"),
        ("first", "DEL"),
    ]
    assert all(c["prev"]["seen"] == ["first", "second", "third"] for c in calls)
    assert not os.listdir(tmp_path / "cache")


def test_a_failing_add_is_rolled_back(fake_plugins, tmp_path):
    bin_dir, log = fake_plugins
    conf = {
        "cniVersion": "1.0.0",
        "name": "chain",
        "plugins": [{"type": "first"}, {"type": "second", "fail": "ADD"}, {"type": "third"}],
    }
    with pytest.raises(CniError) as err:
        invoke(conf, "ADD", "c1", "/run/netns/x", cni_path=[str(bin_dir)], cache_dir=str(tmp_path / "cache"))
    assert err.value.code == 111
    assert [(c["type"], c["cmd"]) for c in _log(log)] == [
        ("first", "ADD"),
        ("second", "ADD"),
        ("first", "DEL"),
    ]


def test_node_network_validates_before_touching_anything(tmp_path):
    with pytest.raises(NetworkError, match="pod_cidr"):
        NodeNetwork("n", "10.244.0.0/16x", tmp_path)
    node = NodeNetwork("n", "10.244.3.0/24", tmp_path, cluster_cidr="10.244.0.0/16")
    assert node.gateway == "10.244.3.1" and node.netns_path == "/run/netns/n"
    rules = node.masquerade_rules(False, True)
    assert "-A MKPY-POSTROUTING -s 10.244.3.0/24 -d 10.244.0.0/16 -j RETURN" in rules
    assert rules.count("-A POSTROUTING") == 1 and "-A FORWARD" not in rules
    assert node.conflist("debian")["plugins"][0]["ipam"]["type"] == "host-local"
    with pytest.raises(NetworkError, match="flavour"):
        node.conflist("weave")


def test_ipam_executable_answers_version_without_root():
    out = subprocess.run(
        [sys.executable, "-m", "minikube_py.network.ipam_plugin"],
        env=dict(os.environ, CNI_COMMAND="VERSION"),
        input=b"",
        capture_output=True,
        check=True,
    )
    assert json.loads(out.stdout)["cniVersion"] == "1.0.0"
