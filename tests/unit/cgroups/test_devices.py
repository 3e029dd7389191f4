"""The v2 device program, run in a small interpreter for the eBPF instructions it uses."""

import struct

import pytest

from minikube_py.runtime.cgroups import CgroupError
from minikube_py.runtime.cgroups import devices as d

R, W, M = d.ACC_READ, d.ACC_WRITE, d.ACC_MKNOD
CHAR, BLOCK = d.DEV_CHAR, d.DEV_BLOCK


def run_ebpf(program: bytes, kind: int, major: int, minor: int, access: int) -> int:
    ctx = struct.pack("=III", access << 16 | kind, major, minor)
    regs = [0] * 11
    pc = 0
    mask = (1 << 64) - 1
    while True:
        code, regs_byte, off, imm = struct.unpack_from("=BBhi", program, pc * 8)
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if code == d.LDX_MEM_W:
            assert src == 1
            regs[dst] = struct.unpack_from("=I", ctx, off)[0]
        elif code == d.MOV64_IMM:
            regs[dst] = imm & mask
        elif code == d.MOV64_REG:
            regs[dst] = regs[src]
        elif code == d.AND64_IMM:
            regs[dst] &= imm & mask
        elif code == d.RSH64_IMM:
            regs[dst] >>= imm
        elif code in (d.JEQ_IMM, d.JNE_IMM):
            if (regs[dst] == imm & mask) == (code == d.JEQ_IMM):
                pc += off
        elif code == d.EXIT:
            return regs[0]
        else:
            raise AssertionError(f"opcode {code:#x}")


RUNTIME_DEFAULT = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},    # /dev/null
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "r"},      # /dev/urandom, read only
    {"allow": True, "type": "c", "major": 136, "access": "rw"},               # any /dev/pts/N
]


@pytest.mark.parametrize(("kind", "major", "minor", "access", "allowed"), [
    (CHAR, 1, 3, R | W, 1),
    (CHAR, 1, 3, M, 1),
    (CHAR, 1, 9, R, 1),
    (CHAR, 1, 9, W, 0),           # the rule grants r only
    (CHAR, 1, 9, R | W, 0),
    (CHAR, 136, 7, R | W, 1),     # major-only rule: any minor
    (CHAR, 136, 7, M, 0),
    (BLOCK, 1, 3, R, 0),          # same numbers, wrong type
    (BLOCK, 8, 0, R, 0),          # /dev/sda
    (CHAR, 1, 5, R, 0),           # /dev/zero: not listed
])
def test_rules_decide_like_v1_files(kind, major, minor, access, allowed):
    assert run_ebpf(d.compile_rules(RUNTIME_DEFAULT), kind, major, minor, access) == allowed


def test_later_rules_win_and_no_match_means_allowed():
    deny_then_allow = [{"allow": False, "type": "b", "access": "rwm"},
                       {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "r"}]
    program = d.compile_rules(deny_then_allow)
    assert run_ebpf(program, BLOCK, 8, 0, R) == 1
    assert run_ebpf(program, BLOCK, 8, 1, R) == 0
    assert run_ebpf(program, CHAR, 1, 5, R | W) == 1          # chars untouched by these rules
    allow_then_deny = list(reversed(deny_then_allow))
    assert run_ebpf(d.compile_rules(allow_then_deny), BLOCK, 8, 0, R) == 0
    assert run_ebpf(d.compile_rules([]), BLOCK, 8, 0, R | W | M) == 1


def test_deny_matches_any_overlap():
    program = d.compile_rules([{"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"}])
    assert run_ebpf(program, CHAR, 1, 5, R) == 1
    assert run_ebpf(program, CHAR, 1, 5, R | W) == 0


@pytest.mark.parametrize(("rule", "message"), [
    ({"access": "r"}, r"devices\[0\].allow: required"),
    ({"allow": True, "access": "rx"}, r"devices\[0\].access: 'x'"),
    ({"allow": True, "type": "p"}, r"devices\[0\].type: 'p'"),
])
def test_bad_rules_name_the_field(rule, message):
    with pytest.raises(CgroupError, match=message):
        d.compile_rules([rule])
