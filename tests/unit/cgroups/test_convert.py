"""OCI linux.resources -> cgroup files: the conversions and the validation, no kernel needed."""

import pytest

from minikube_py.runtime.cgroups import (
    CgroupError,
    blkio_weight_to_io_weight,
    cpu_max,
    normalize_path,
    plan_v1,
    plan_v2,
    shares_to_weight,
    swap_to_v2,
)
from minikube_py.runtime.cgroups.convert import shares_to_weight_linear


def files(writes):
    return [(w.file, w.value) for w in writes]


def test_shares_to_weight_hits_the_three_fixed_points_and_keeps_order():
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 100      # both defaults line up
    assert shares_to_weight(262144) == 10000
    assert shares_to_weight(1) == 1 and shares_to_weight(10**6) == 10000  # clamped
    values = [shares_to_weight(s) for s in range(2, 262145, 97)]
    assert values == sorted(values)
    assert shares_to_weight(512) < 100 < shares_to_weight(2048)


def test_the_old_linear_formula_gave_default_shares_a_weight_of_39():
    assert shares_to_weight_linear(1024) == 39
    assert shares_to_weight_linear(2) == 1 and shares_to_weight_linear(262144) == 10000


def test_blkio_weight_maps_10_1000_onto_1_10000():
    assert blkio_weight_to_io_weight(10) == 1
    assert blkio_weight_to_io_weight(1000) == 10000
    assert blkio_weight_to_io_weight(500) == 1 + (490 * 9999) // 990


@pytest.mark.parametrize(("swap", "memory", "expected"), [
    (None, None, None),            # nothing asked
    (None, -1, "max"),             # unlimited memory -> unlimited swap
    (-1, 64, "max"),
    (64, 64, "0"),                 # memory+swap == memory: no swap at all
    (100, 64, "36"),               # v2 counts swap alone
])
def test_swap_is_converted_from_a_total_to_swap_alone(swap, memory, expected):
    assert swap_to_v2(swap, memory, "f") == expected


@pytest.mark.parametrize(("swap", "memory", "message"), [
    (32, 64, "must be >= memory limit"),
    (64, None, "needs a memory limit"),
    (-5, 64, "invalid value -5"),
])
def test_bad_swap_values_name_the_field(swap, memory, message):
    with pytest.raises(CgroupError, match=rf"^linux.resources.memory.swap: .*{message}"):
        swap_to_v2(swap, memory, "linux.resources.memory.swap")


def test_cpu_max_text():
    assert cpu_max(50000, 100000) == "50000 100000"
    assert cpu_max(-1, 100000) == "max 100000"
    assert cpu_max(20000, None) == "20000"
    assert cpu_max(None, None) is None


FULL = {
    "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20},
    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
    "pids": {"limit": 64},
    "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
}


def test_plan_v2_for_a_full_resources_object():
    writes = plan_v2({**FULL, "unified": {"memory.high": "50000000"}})
    assert files(writes) == [
        ("memory.swap.max", str(32 << 20)),
        ("memory.max", str(64 << 20)),
        ("memory.low", str(32 << 20)),
        ("cpu.weight", "100"),
        ("cpu.max", "50000 100000"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
        ("pids.max", "64"),
        ("io.bfq.weight", "500"),
        ("io.max", "8:0 rbps=1048576"),
        ("hugetlb.2MB.max", "0"),
        ("memory.high", "50000000"),   # unified last: it may override what came before
    ]
    # BFQ missing -> the generic io.weight on its 1..10000 scale
    assert writes[8].fallback.file == "io.weight" and writes[8].fallback.value == "4950"
    assert {w.field for w in writes} >= {"linux.resources.memory.limit", "linux.resources.cpu.shares"}


def test_plan_v1_for_the_same_object_uses_v1_files():
    assert files(plan_v1(FULL)) == [
        ("memory.limit_in_bytes", str(64 << 20)),
        ("memory.memsw.limit_in_bytes", str(96 << 20)),
        ("memory.soft_limit_in_bytes", str(32 << 20)),
        ("cpu.shares", "1024"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_quota_us", "50000"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
        ("pids.max", "64"),
        ("blkio.weight", "500"),
        ("blkio.throttle.read_bps_device", "8:0 1048576"),
        ("hugetlb.2MB.limit_in_bytes", "0"),
    ]


def test_v1_memory_and_swap_order_follows_the_direction_of_change():
    grow = plan_v1({"memory": {"limit": 200, "swap": 300}}, current_memory_limit=100)
    shrink = plan_v1({"memory": {"limit": 50, "swap": 60}}, current_memory_limit=100)
    # memsw may never be below the memory limit: raise it first when growing, lower it last when shrinking
    assert [w.file for w in grow] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    assert [w.file for w in shrink] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]


def test_unlimited_values():
    assert files(plan_v2({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1}})) == [
        ("memory.swap.max", "max"), ("memory.max", "max"), ("cpu.max", "max"), ("pids.max", "max")]
    assert ("memory.limit_in_bytes", "-1") in files(plan_v1({"memory": {"limit": -1}}))


def test_device_rules_on_v1():
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3,
                                                   "access": "rw"}]
    assert files(plan_v1({"devices": rules})) == [("devices.deny", "a *:* rwm"),
                                                   ("devices.allow", "c 1:3 rw")]


@pytest.mark.parametrize(("resources", "field"), [
    ({"memroy": {}}, r"linux.resources.memroy: unknown field"),
    ({"memory": {"limitt": 1}}, r"linux.resources.memory.limitt: unknown field"),
    ({"memory": {"limit": "64M"}}, r"linux.resources.memory.limit: must be an integer"),
    ({"memory": {"limit": -7}}, r"linux.resources.memory.limit: invalid value -7"),
    ({"cpu": {"shares": 1}}, r"linux.resources.cpu.shares: 1 is outside 2..262144"),
    ({"cpu": {"cpus": "zero"}}, r"linux.resources.cpu.cpus: 'zero' is not a list"),
    ({"cpu": {"quota": -2}}, r"linux.resources.cpu.quota: -2 is below the minimum -1"),
    ({"cpu": {"realtimeRuntime": 950000}}, r"linux.resources.cpu.realtimeRuntime: .*cgroup v2"),
    ({"blockIO": {"weight": 5}}, r"linux.resources.blockIO.weight: 5 is outside 10..1000"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8}]}},
     r"linux.resources.blockIO.throttleReadBpsDevice\[0\]: needs both major and minor"),
    ({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}, r"linux.resources.hugepageLimits\[0\].pageSize"),
    ({"unified": {"cgroup.procs": "1"}}, r"linux.resources.unified\['cgroup.procs'\]: not a resource file"),
    ({"unified": {"memory.high": 5}}, r"linux.resources.unified\['memory.high'\]: value must be a string"),
    ({"devices": [{"allow": True, "type": "x"}]}, r"linux.resources.devices\[0\].type"),
    ({"network": {"classID": 1}}, r"linux.resources.network: not supported"),
    ({"memory": {"disableOOMKiller": True}}, r"linux.resources.memory.disableOOMKiller: not supported"),
])
def test_bad_values_are_errors_naming_the_field(resources, field):
    with pytest.raises(CgroupError, match="^" + field):
        plan_v2(resources)


def test_unified_needs_v2():
    with pytest.raises(CgroupError, match=r"^linux.resources.unified: needs cgroup v2"):
        plan_v1({"unified": {"memory.high": "1"}})


@pytest.mark.parametrize(("path", "expected"), [
    ("/mkpy/abc", "mkpy/abc"), ("kubepods/burstable/pod1/c", "kubepods/burstable/pod1/c"), ("a//b/", "a/b")])
def test_paths_are_below_the_root(path, expected):
    assert normalize_path(path) == expected


@pytest.mark.parametrize(("path", "message"), [
    ("/", "names the root"), ("/a/../b", "may not contain"), ("system.slice:mkpy:x", "systemd"),
    (5, "string")])
def test_bad_paths_name_cgroups_path(path, message):
    with pytest.raises(CgroupError, match=f"^cgroupsPath: .*{message}"):
        normalize_path(path)
