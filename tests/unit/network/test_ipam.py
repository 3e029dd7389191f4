"""IPAM allocation logic on a plain directory (no root, no kernel)."""

from __future__ import annotations

import ipaddress
import multiprocessing
import os

import pytest

from minikube_py.network import ipam
from minikube_py.network.cni_types import ERR_INVALID_CONFIG, ERR_NO_ADDRESSES, CniError


def config(tmp_path, **ipam_extra) -> ipam.IpamConfig:
    section = {"type": "mkpy-ipam", "dataDir": str(tmp_path), **ipam_extra}
    section.setdefault("ranges", [[{"subnet": "10.244.0.0/29"}]])
    return ipam.parse_config({"name": "net", "ipam": section})


def ips(allocated) -> list[str]:
    return [str(ip) for ip, _ in allocated]


def test_addresses_start_after_the_gateway_and_skip_it(tmp_path):
    cfg = config(tmp_path)
    got = [ips(ipam.allocate(cfg, f"c{i}", "eth0"))[0] for i in range(5)]
    assert got == ["10.244.0.2", "10.244.0.3", "10.244.0.4", "10.244.0.5", "10.244.0.6"]
    with pytest.raises(CniError) as err:
        ipam.allocate(cfg, "c6", "eth0")
    assert err.value.code == ERR_NO_ADDRESSES


def test_same_container_and_ifname_get_the_same_address_again(tmp_path):
    cfg = config(tmp_path)
    first = ips(ipam.allocate(cfg, "c", "eth0"))
    assert ips(ipam.allocate(cfg, "c", "eth0")) == first
    assert ips(ipam.allocate(cfg, "c", "eth1")) != first


def test_release_is_idempotent_and_freed_addresses_come_back_last(tmp_path):
    cfg = config(tmp_path)
    a = ips(ipam.allocate(cfg, "a", "eth0"))[0]
    ipam.allocate(cfg, "b", "eth0")
    assert [str(x) for x in ipam.release(cfg, "a", "eth0")] == [a]
    assert ipam.release(cfg, "a", "eth0") == []
    assert ipam.release(config(tmp_path / "never"), "a", "eth0") == []
    assert ips(ipam.allocate(cfg, "c", "eth0"))[0] == "10.244.0.4"  # round robin, not the freed .2


def test_allocations_persist_across_new_config_objects(tmp_path):
    ipam.allocate(config(tmp_path), "a", "eth0")
    again = config(tmp_path)  # what a restarted agent sees
    assert ips(ipam.allocate(again, "b", "eth0")) == ["10.244.0.3"]
    assert (tmp_path / "net" / "10.244.0.2").read_text() == "a\neth0"


def _grab(args) -> str:
    path, i = args
    return ips(ipam.allocate(config(path), f"p{i}", "eth0"))[0]


def test_concurrent_processes_never_share_an_address(tmp_path):
    cfg_path = tmp_path
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        got = pool.map(_grab, [(cfg_path, i) for i in range(5)])
    assert len(set(got)) == 5


def test_range_limits_gateway_and_two_range_sets(tmp_path):
    cfg = config(
        tmp_path,
        ranges=[
            [
                {
                    "subnet": "10.1.0.0/24",
                    "rangeStart": "10.1.0.10",
                    "rangeEnd": "10.1.0.11",
                    "gateway": "10.1.0.254",
                }
            ],
            [{"subnet": "10.2.0.0/24"}],
        ],
    )
    assert ips(ipam.allocate(cfg, "a", "eth0")) == ["10.1.0.10", "10.2.0.2"]
    result = ipam.result_for(cfg, ipam.allocate(cfg, "a", "eth0"), "1.0.0")
    assert result["ips"][0] == {"address": "10.1.0.10/24", "gateway": "10.1.0.254"}
    ipam.allocate(cfg, "b", "eth0")
    # the first range set is full: nothing is half-applied in the second one
    before = sorted(os.listdir(tmp_path / "net"))
    with pytest.raises(CniError):
        ipam.allocate(cfg, "c", "eth0")
    assert sorted(os.listdir(tmp_path / "net")) == before


@pytest.mark.parametrize(
    "section, field",
    [
        ({"ranges": [[{"subnet": "10.0.0.0/33"}]]}, "ipam.ranges[0][0].subnet"),
        ({"ranges": [[{"subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}]]}, "ipam.ranges[0][0].gateway"),
        (
            {"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.9", "rangeEnd": "10.0.0.3"}]]},
            "rangeStart",
        ),
        ({"ranges": []}, "ipam.ranges"),
        ({"ranges": [[{"subnet": "10.0.0.0/24"}]], "routes": [{"dst": "nope"}]}, "ipam.routes[0].dst"),
        ({"ranges": [[{"subnet": "10.0.0.0/24"}]], "dataDir": "relative"}, "ipam.dataDir"),
        ({}, "ipam"),
    ],
)
def test_bad_config_names_the_field(tmp_path, section, field):
    with pytest.raises(CniError) as err:
        ipam.parse_config({"name": "n", "ipam": {"type": "mkpy-ipam", **section}})
    assert err.value.code == ERR_INVALID_CONFIG and field in err.value.msg


def test_flat_subnet_form_and_round_robin_wraps(tmp_path):
    cfg = ipam.parse_config({"name": "n", "ipam": {"subnet": "10.9.0.0/30", "dataDir": str(tmp_path)}})
    assert ips(ipam.allocate(cfg, "a", "eth0")) == ["10.9.0.2"]
    r = cfg.rangesets[0][0]
    assert list(r.addresses(ipaddress.IPv4Address("10.9.0.2"))) == [ipaddress.IPv4Address("10.9.0.2")]
