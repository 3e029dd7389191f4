"""seccomp profiles -> BPF: checked by running the program in a small classic-BPF interpreter."""

import errno
import random
import struct

import pytest

from minikube_py.runtime import seccomp
from minikube_py.runtime.seccomp import (
    AUDIT_ARCH_X86_64,
    RET_ALLOW,
    RET_ERRNO,
    RET_KILL_PROCESS,
    SeccompError,
    compile_profile,
    default_profile,
    syscall_table,
)

NR = syscall_table()
AUDIT_ARCH_I386 = 0x40000003


def run_bpf(program: bytes, nr: int, args=(0,) * 6, arch=AUDIT_ARCH_X86_64) -> int:
    """Execute a seccomp classic-BPF program on one seccomp_data, as the kernel would."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    a, pc, steps = 0, 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        steps += 1
        assert steps < 10000
        pc += 1
        if code == 0x20:
            a = struct.unpack_from("=I", data, k)[0]
        elif code == 0x54:
            a &= k
        elif code == 0x05:
            pc += k
        elif code in (0x15, 0x25, 0x35):
            taken = {0x15: a == k, 0x25: a > k, 0x35: a >= k}[code]
            pc += jt if taken else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def verdict(profile, name, args=(0,) * 6, **kw):
    return run_bpf(compile_profile(profile).program, NR[name], args, **kw)


def test_the_table_comes_from_the_kernel_headers():
    assert NR["read"] == 0 and NR["write"] == 1 and NR["mount"] == 165 and NR["unshare"] == 272


def test_program_starts_with_the_architecture_check():
    program = compile_profile({"defaultAction": "SCMP_ACT_ALLOW"}).program
    assert len(program) % 8 == 0
    first = struct.unpack_from("=HBBI", program, 0)
    assert first == (0x20, 0, 0, 4)   # ld [4]: seccomp_data.arch
    assert run_bpf(program, NR["read"], arch=AUDIT_ARCH_I386) == RET_KILL_PROCESS
    assert run_bpf(program, 0x40000000 | NR["read"]) == RET_KILL_PROCESS   # x32 ABI
    assert run_bpf(program, NR["read"]) == RET_ALLOW


def test_default_profile_allows_ordinary_calls_and_denies_the_dangerous_ones():
    p = default_profile()
    for name in ("read", "write", "openat", "execve", "mmap", "futex", "exit_group", "wait4", "chroot"):
        assert verdict(p, name) == RET_ALLOW, name
    for name in seccomp.DENIED_BY_DEFAULT:
        assert verdict(p, name) == RET_ERRNO | errno.EPERM, name


def test_default_profile_clone_is_allowed_only_without_namespace_flags():
    p = default_profile()
    sigchld = 17
    assert verdict(p, "clone", (sigchld | 0x01200000,)) == RET_ALLOW      # what fork() passes
    assert verdict(p, "clone", (sigchld | 0x00020000,)) == RET_ERRNO | errno.EPERM   # CLONE_NEWNS
    assert verdict(p, "clone", (0x10000000,)) == RET_ERRNO | errno.EPERM   # CLONE_NEWUSER
    # clone3 passes flags in memory the filter cannot read: ENOSYS makes libc use clone()
    assert verdict(p, "clone3") == RET_ERRNO | errno.ENOSYS


def test_capabilities_widen_the_default_profile():
    admin = default_profile([*seccomp.DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"])
    assert verdict(admin, "mount") == RET_ALLOW and verdict(admin, "ptrace") == RET_ALLOW
    assert verdict(admin, "clone", (0x00020000,)) == RET_ALLOW
    assert verdict(default_profile([]), "chroot") == RET_ERRNO | errno.EPERM


def test_syscalls_newer_than_the_table_get_enosys_unless_the_default_allows():
    newest = max(NR.values()) + 5
    program = compile_profile(default_profile()).program
    assert run_bpf(program, newest) == RET_ERRNO | errno.ENOSYS
    assert run_bpf(compile_profile({"defaultAction": "SCMP_ACT_ALLOW"}).program, newest) == RET_ALLOW


def test_errno_actions_and_their_numbers():
    p = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EACCES,
         "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
                      {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS},
                      {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]}
    assert verdict(p, "getpid") == RET_ALLOW
    assert verdict(p, "mkdirat") == RET_ERRNO | errno.EROFS
    assert verdict(p, "rmdir") == RET_ERRNO | errno.EPERM       # no errnoRet: EPERM (as runc)
    assert verdict(p, "read") == RET_ERRNO | errno.EACCES       # defaultErrnoRet is for the default
    no_default = {"defaultAction": "SCMP_ACT_ERRNO"}
    assert verdict(no_default, "read") == RET_ERRNO | errno.EPERM


OPS = {
    "SCMP_CMP_EQ": lambda a, v, v2: a == v, "SCMP_CMP_NE": lambda a, v, v2: a != v,
    "SCMP_CMP_LT": lambda a, v, v2: a < v, "SCMP_CMP_LE": lambda a, v, v2: a <= v,
    "SCMP_CMP_GT": lambda a, v, v2: a > v, "SCMP_CMP_GE": lambda a, v, v2: a >= v,
    "SCMP_CMP_MASKED_EQ": lambda a, v, v2: a & v == v2,
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_64_bit_argument_comparisons_match_python(op):
    rng = random.Random(op)
    edges = [0, 1, 0xFFFFFFFF, 1 << 32, (1 << 32) + 1, (1 << 64) - 1, 0x7FFFFFFF00000000]
    values = edges + [rng.getrandbits(64) for _ in range(6)]
    for value in values:
        v2 = value & 0xF0F0F0F0F0F0F0F0
        p = {"defaultAction": "SCMP_ACT_ALLOW",
             "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99,
                           "args": [{"index": 2, "value": value, "valueTwo": v2, "op": op}]}]}
        program = compile_profile(p).program
        for arg in [*values, value - 1 if value else 0, (value + 1) % (1 << 64), value ^ (1 << 40)]:
            expected = RET_ERRNO | 99 if OPS[op](arg, value, v2) else RET_ALLOW
            assert run_bpf(program, NR["kill"], (0, 0, arg)) == expected, (op, hex(value), hex(arg))


def prof(*syscalls, **extra):
    """A profile that allows everything except what `syscalls` say."""
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(syscalls), **extra}


def arg(index, value, op="SCMP_CMP_EQ"):
    return {"index": index, "value": value, "op": op}


def test_conditions_of_one_rule_are_and_but_same_index_is_or():
    both = prof({"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                 "args": [arg(0, 10), arg(1, 2)]})
    assert verdict(both, "socket", (10, 2)) == RET_ERRNO | 97
    assert verdict(both, "socket", (10, 1)) == RET_ALLOW
    either = prof({"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                   "args": [arg(0, 10), arg(0, 17)]})
    assert verdict(either, "socket", (17,)) == RET_ERRNO | 97
    assert verdict(either, "socket", (10,)) == RET_ERRNO | 97
    assert verdict(either, "socket", (2,)) == RET_ALLOW


@pytest.mark.parametrize(("profile", "message"), [
    (prof({"names": ["read", "mkdri"], "action": "SCMP_ACT_ERRNO"}),
     r"^linux.seccomp.syscalls\[0\].names\[1\]: unknown syscall 'mkdri'"),
    ({"defaultAction": "SCMP_ACT_DENY"}, r"^linux.seccomp.defaultAction: unknown action 'SCMP_ACT_DENY'"),
    (prof(architectures=["SCMP_ARCH_Z80"]), r"^linux.seccomp.architectures\[0\]: unknown architecture"),
    (prof({"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [arg(6, 1)]}),
     r"^linux.seccomp.syscalls\[0\].args\[0\].index"),
    (prof({"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [arg(0, 1, "SCMP_CMP_XX")]}),
     r"^linux.seccomp.syscalls\[0\].args\[0\].op: unknown operator"),
    (prof({"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": -1}),
     r"^linux.seccomp.syscalls\[0\].action: errnoRet -1"),
    (prof(flags=["SECCOMP_FILTER_FLAG_FAST"]), r"^linux.seccomp.flags\[0\]"),
    (prof({"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["read"], "action": "SCMP_ACT_KILL"}),
     r"^linux.seccomp.syscalls\[1\].names\[0\]: 'read' already has another unconditional action"),
])
def test_bad_profiles_are_errors_naming_the_field(profile, message):
    with pytest.raises(SeccompError, match=message):
        compile_profile(profile)


def test_unknown_names_can_be_skipped_like_runc_with_a_note():
    compiled = compile_profile({"defaultAction": "SCMP_ACT_ALLOW",
                                "syscalls": [{"names": ["mkdri", "mkdir"], "action": "SCMP_ACT_ERRNO"}]},
                               unknown="skip")
    assert any("'mkdri'" in n for n in compiled.notes)
    assert run_bpf(compiled.program, NR["mkdir"]) == RET_ERRNO | errno.EPERM


def test_flags_and_the_listing_a_student_reads():
    compiled = compile_profile({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                                "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]})
    assert compiled.flags == 2
    listing = seccomp.disassemble(compiled.program)
    assert "ld  arch" in listing and "; mount" in listing and "ret ERRNO(EPERM)" in listing


def test_no_denied_call_slipped_into_the_allow_list():
    assert not set(seccomp.DENIED_BY_DEFAULT) & set(seccomp.DEFAULT_ALLOWED)
