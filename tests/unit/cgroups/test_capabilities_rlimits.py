"""Capability names and numbers, rlimit parsing: validation before anything is applied."""

import resource

import prctl
import pytest

from minikube_py.runtime import capabilities, rlimits
from minikube_py.runtime.capabilities import CapabilityError
from minikube_py.runtime.rlimits import RlimitError


def test_every_capability_has_a_number_and_back():
    assert len(capabilities.CAPABILITIES) == 41
    assert sorted(capabilities.CAPABILITIES.values()) == list(range(41))
    for name, number in capabilities.CAPABILITIES.items():
        assert capabilities.to_name(number) == name
        assert capabilities.to_number(name) == number


def test_numbers_agree_with_python_prctl():
    for name in ("CAP_CHOWN", "CAP_SETPCAP", "CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_AUDIT_READ", "CAP_BPF"):
        assert capabilities.to_number(name) == getattr(prctl, name)


def test_short_and_lowercase_names_work():
    assert capabilities.to_number("sys_admin") == 21
    assert capabilities.to_number("NET_RAW") == 13


def test_unknown_capability_is_an_error_naming_it_and_its_place():
    with pytest.raises(CapabilityError, match=r"^process.capabilities.bounding\[1\]: unknown capability "
                                              r"'CAP_SYS_ADMN'"):
        capabilities.parse({"bounding": ["CAP_KILL", "CAP_SYS_ADMN"]})
    with pytest.raises(CapabilityError, match=r"^process.capabilities.boundng: unknown capability set"):
        capabilities.parse({"boundng": []})


def test_parse_fills_all_five_sets():
    sets = capabilities.parse({"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]})
    assert sets == {"bounding": {5}, "effective": {5}, "permitted": set(), "inheritable": set(),
                    "ambient": set()}


def test_ambient_must_be_permitted_and_inheritable_checked_before_any_change():
    sets = capabilities.parse({"ambient": ["CAP_KILL"], "permitted": ["CAP_KILL"]})
    before = capabilities.current()
    with pytest.raises(CapabilityError, match=r"^process.capabilities.ambient: CAP_KILL must also be"):
        capabilities.apply_sets(sets)
    assert capabilities.current() == before


def test_current_reads_the_five_sets():
    cur = capabilities.current()
    assert set(cur) == set(capabilities.SETS)
    assert cur["effective"] <= cur["permitted"]


def test_rlimits_parse():
    got = rlimits.parse([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
                         {"type": "RLIMIT_CORE", "soft": 2**64 - 1, "hard": 2**64 - 1}])
    assert got == [("RLIMIT_NOFILE", resource.RLIMIT_NOFILE, 1024, 4096),
                   ("RLIMIT_CORE", resource.RLIMIT_CORE, resource.RLIM_INFINITY, resource.RLIM_INFINITY)]


@pytest.mark.parametrize(("entries", "message"), [
    ([{"type": "RLIMIT_NOFILES", "soft": 1, "hard": 1}], r"^process.rlimits\[0\].type: unknown rlimit"),
    ([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}], r"^process.rlimits\[0\].soft: 10 is above"),
    ([{"type": "RLIMIT_NOFILE", "soft": -1, "hard": 5}], r"^process.rlimits\[0\].soft: -1 is not"),
    ([{"type": "RLIMIT_NPROC", "soft": 1, "hard": 1}, {"type": "RLIMIT_NPROC", "soft": 1, "hard": 1}],
     r"^process.rlimits\[1\].type: RLIMIT_NPROC is given twice"),
])
def test_bad_rlimits_name_the_entry(entries, message):
    with pytest.raises(RlimitError, match=message):
        rlimits.parse(entries)
