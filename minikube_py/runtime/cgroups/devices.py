"""Device rules on cgroup v2: an eBPF program attached to the cgroup decides each device access.

cgroup v1 had files for this (devices.allow / devices.deny). cgroup v2 has none:
instead the kernel runs a BPF_PROG_TYPE_CGROUP_DEVICE program whenever a process in
the cgroup opens or mknod()s a device node, with

    struct bpf_cgroup_dev_ctx { __u32 access_type; __u32 major; __u32 minor; };
    access_type = access << 16 | type      type: 1 block, 2 char; access: 1 mknod, 2 read, 4 write

and it allows the access if the program returns 1. We generate that program from the OCI
rules (the same semantics as writing them to v1's files one after the other):

    * rules are checked last-to-first; the first that matches decides;
    * an allow rule matches when it grants *all* the requested access ("rw" covers "r");
      a deny rule matches when it covers *any* of it;
    * no rule matches -> allowed (a fresh v1 cgroup allows everything too), so configs
      start with {"allow": false, "access": "rwm"} and then list what is allowed.

The program is loaded with bpf(BPF_PROG_LOAD) and attached with bpf(BPF_PROG_ATTACH) to
the cgroup's directory; it stays attached until the cgroup is removed. Python has no
bpf() wrapper, so ctypes' syscall(2) makes the call.
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import Any

from minikube_py.kernel.syscalls import Syscalls
from minikube_py.runtime.cgroups.errors import CgroupError

SYS_BPF = 321                      # x86_64
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6              # attach type
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}

# eBPF opcodes (linux/bpf.h, bpf_common.h)
LDX_MEM_W = 0x61   # dst = *(u32 *)(src + off)
MOV64_IMM = 0xB7   # dst = imm
MOV64_REG = 0xBF   # dst = src
AND64_IMM = 0x57   # dst &= imm
RSH64_IMM = 0x77   # dst >>= imm
JEQ_IMM = 0x15     # if dst == imm: pc += off
JNE_IMM = 0x55     # if dst != imm: pc += off
EXIT = 0x95        # return r0


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One struct bpf_insn: u8 code; u8 dst:4, src:4; s16 off; s32 imm."""
    return struct.pack("=BBhi", code, (src << 4) | dst, off, imm)


def compile_rules(rules: list[dict[str, Any]]) -> bytes:
    """OCI linux.resources.devices -> eBPF program bytes (see the module docstring)."""
    # r2 = access, r3 = type, r4 = major, r5 = minor
    program = [insn(LDX_MEM_W, 2, 1, 0), insn(MOV64_REG, 3, 2), insn(AND64_IMM, 3, imm=0xFFFF),
               insn(RSH64_IMM, 2, imm=16), insn(LDX_MEM_W, 4, 1, 4), insn(LDX_MEM_W, 5, 1, 8)]
    for i in reversed(range(len(rules))):
        program += _rule_block(rules[i], f"linux.resources.devices[{i}]")
    program += [insn(MOV64_IMM, 0, imm=1), insn(EXIT)]   # nothing matched: allowed
    return b"".join(program)


def _rule_block(rule: dict[str, Any], field: str) -> list[bytes]:
    """Checks that jump past this block (to the next rule) on a mismatch, then return the verdict."""
    allow = rule.get("allow")
    if not isinstance(allow, bool):
        raise CgroupError(f"{field}.allow: required (true or false)")
    access = 0
    for letter in rule.get("access") or "rwm":
        if letter not in _ACCESS:
            raise CgroupError(f"{field}.access: {letter!r} is not one of r, w, m")
        access |= _ACCESS[letter]
    kind = rule.get("type") or "a"
    checks: list[tuple[int, int, int]] = []   # (opcode, register, immediate) -> jump out when true
    if kind != "a":
        if kind not in ("b", "c"):
            raise CgroupError(f"{field}.type: {kind!r} is not one of a, b, c")
        checks.append((JNE_IMM, 3, DEV_BLOCK if kind == "b" else DEV_CHAR))
    for key, register in (("major", 4), ("minor", 5)):
        value = rule.get(key)
        if value is not None and value >= 0:
            checks.append((JNE_IMM, register, value))
    block: list[bytes] = []
    # access first: r6 = requested access masked by what the rule does (allow) / does not (deny) grant
    block.append(insn(MOV64_REG, 6, 2))
    if allow:
        block.append(insn(AND64_IMM, 6, imm=~access & 7))
        checks.insert(0, (JNE_IMM, 6, 0))      # asks for something the rule does not grant
    else:
        block.append(insn(AND64_IMM, 6, imm=access))
        checks.insert(0, (JEQ_IMM, 6, 0))      # asks for nothing the rule denies
    tail = [insn(MOV64_IMM, 0, imm=1 if allow else 0), insn(EXIT)]
    for n, (code, register, imm) in enumerate(checks):
        remaining = len(checks) - n - 1
        block.append(insn(code, register, off=remaining + len(tail), imm=imm))
    return block + tail


def attach(directory: str, rules: list[dict[str, Any]], sys: Syscalls | None = None) -> None:
    """Load the program for `rules` and attach it to the cgroup at `directory` (replacing an earlier one)."""
    program = compile_rules(rules)
    if sys is not None:
        sys.note("bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE)", why="cgroup v2 device rules",
                 rules=len(rules), instructions=len(program) // 8)
    prog_fd = _load(program)
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            # flags 0: one program per cgroup, and attaching again replaces it
            attr = struct.pack("=IIIII", dir_fd, prog_fd, BPF_CGROUP_DEVICE, 0, 0)
            _bpf(BPF_PROG_ATTACH, attr, "attach the device program to " + directory)
            if sys is not None:
                sys.note("bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE)", path=directory)
        finally:
            os.close(dir_fd)
    finally:
        os.close(prog_fd)


def _load(program: bytes) -> int:
    code = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(1 << 16)
    # union bpf_attr, BPF_PROG_LOAD part: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
    attr = struct.pack("=IIQQIIQ", BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8, ctypes.addressof(code),
                       ctypes.addressof(license_), 1, len(log), ctypes.addressof(log))
    try:
        return _bpf(BPF_PROG_LOAD, attr, "load the device program")
    except CgroupError as exc:
        raise CgroupError(f"{exc}; verifier says: {log.value.decode(errors='replace')[-500:]}") from None


def _bpf(cmd: int, attr: bytes, what: str) -> int:
    buf = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(SYS_BPF, cmd, buf, 128)
    if result < 0:
        err = ctypes.get_errno()
        raise CgroupError(f"linux.resources.devices: cannot {what}: {os.strerror(err)}")
    return result
