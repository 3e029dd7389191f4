"""seccomp: OCI `linux.seccomp` -> a classic BPF program the kernel runs on every system call.

The kernel hands the filter a `struct seccomp_data` and the filter returns a verdict:

    struct seccomp_data {            offset
        int   nr;                     0   the system call number (x86_64 numbering)
        __u32 arch;                   4   AUDIT_ARCH_X86_64, or i386 for `int 0x80` calls
        __u64 instruction_pointer;    8
        __u64 args[6];               16   args[i] at 16 + 8*i (low 32 bits first: little endian)
    };

The program we generate reads, top to bottom (see `disassemble()`):

    1. the architecture: anything but x86_64 is killed (our syscall numbers are x86_64's,
       and the same number means another call on i386); x32 calls (nr >= 0x40000000) too;
    2. syscalls newer than our table -> ENOSYS, so libc falls back to an older call (as runc);
    3. one small block per named syscall: unconditional `jeq nr -> ret ACTION`, or the
       argument checks of its rules, first match wins (classic BPF is 32-bit, so every
       64-bit comparison is two: high word, then low word);
    4. `ret defaultAction`.

Loading needs no_new_privs (or CAP_SYS_ADMIN); the runtime sets it first. The load goes
through Syscalls.seccomp_set_filter, so the trace shows it.

Syscall names unknown on x86_64 are an ERROR here, naming the field. runc instead skips
names libseccomp does not know, which keeps old runtimes working with new Docker profiles,
but turns a typo in a deny rule into a silent allow; compile_profile(..., unknown="skip") gives
runc's behaviour, with each skipped name listed in `notes`.
"""

from __future__ import annotations

import errno as _errno
import os
import platform
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from itertools import count
from typing import Any

from minikube_py.kernel.syscalls import Syscalls


class SeccompError(Exception):
    """A seccomp profile that cannot be compiled; the message names the OCI field."""


# ---------------------------------------------------------------- constants (linux/seccomp.h, audit.h)
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000

FILTER_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
}

# classic BPF opcodes (linux/bpf_common.h)
LD_W_ABS = 0x20    # A = *(u32 *)(seccomp_data + k)
ALU_AND_K = 0x54   # A &= k
JMP_JA = 0x05      # pc += k
JMP_JEQ_K = 0x15   # pc += (A == k) ? jt : jf
JMP_JGT_K = 0x25   # pc += (A > k) ? jt : jf    (unsigned)
JMP_JGE_K = 0x35   # pc += (A >= k) ? jt : jf   (unsigned)
RET_K = 0x06       # return k
BPF_MAXINSNS = 4096

OFF_NR, OFF_ARCH, OFF_ARGS = 0, 4, 16

ARCHITECTURES = {  # OCI names libseccomp knows; we compile x86_64 only
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
}
OPERATORS = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
             "SCMP_CMP_MASKED_EQ"}

# ---------------------------------------------------------------- the syscall table
HEADERS = ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h")


@cache
def syscall_table() -> dict[str, int]:
    """name -> x86_64 number, read from the kernel's UAPI header (package linux-libc-dev)."""
    for path in HEADERS:
        if os.path.exists(path):
            with open(path) as f:
                table = {m[1]: int(m[2]) for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)", f.read(), re.M)}
            if table:
                return table
    raise SeccompError(f"no x86_64 syscall table: none of {', '.join(HEADERS)} exists "
                       "(install linux-libc-dev, which libc6-dev pulls in)")


# ---------------------------------------------------------------- a tiny assembler with labels
@dataclass
class Insn:
    code: int
    k: int = 0
    jt: int | str = 0      # a label name, resolved by assemble()
    jf: int | str = 0
    label: str | None = None  # this instruction carries this label
    comment: str = ""


def assemble(insns: list[Insn]) -> bytes:
    """Resolve labels to relative jumps and pack each instruction as struct sock_filter."""
    where = {i.label: n for n, i in enumerate(insns) if i.label}
    out = bytearray()
    for n, insn in enumerate(insns):
        jumps = []
        for target in (insn.jt, insn.jf):
            offset = where[target] - n - 1 if isinstance(target, str) else target
            if not 0 <= offset <= 255:
                raise SeccompError(f"linux.seccomp: a rule block is too long for a BPF jump ({offset})")
            jumps.append(offset)
        k = insn.k
        if insn.code == JMP_JA and isinstance(insn.jt, str):
            k, jumps = where[insn.jt] - n - 1, [0, 0]
        # struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }
        out += struct.pack("=HBBI", insn.code, jumps[0], jumps[1], k & 0xFFFFFFFF)
    if len(insns) > BPF_MAXINSNS:
        raise SeccompError(f"linux.seccomp: program has {len(insns)} instructions, above {BPF_MAXINSNS}")
    return bytes(out)


def disassemble(program: bytes) -> str:
    """Readable listing of a compiled filter, for a student (and for tests)."""
    names = {v: k for k, v in syscall_table().items()}
    lines = []
    loaded = None
    for n in range(len(program) // 8):
        code, jt, jf, k = struct.unpack_from("=HBBI", program, n * 8)
        if code == LD_W_ABS:
            loaded = k
            half = "hi" if k % 8 else "lo"
            what = {OFF_NR: "nr", OFF_ARCH: "arch"}.get(k) or f"args[{(k - OFF_ARGS) // 8}].{half}"
            text = f"ld  {what}"
        elif code == ALU_AND_K:
            text = f"and {k:#x}"
        elif code == JMP_JA:
            text = f"ja  {n + 1 + k}"
        elif code in (JMP_JEQ_K, JMP_JGT_K, JMP_JGE_K):
            op = {JMP_JEQ_K: "jeq", JMP_JGT_K: "jgt", JMP_JGE_K: "jge"}[code]
            hint = f"  ; {names[k]}" if code == JMP_JEQ_K and loaded == OFF_NR and k in names else ""
            text = f"{op} {k:#x}, {n + 1 + jt}, {n + 1 + jf}{hint}"
        elif code == RET_K:
            text = f"ret {describe_action(k)}"
        else:
            text = f"?? code={code:#x} k={k:#x}"
        lines.append(f"{n:4d}: {text}")
    return "\n".join(lines)


def describe_action(ret: int) -> str:
    action = ret & 0xFFFF0000
    if action == RET_ERRNO:
        data = ret & 0xFFFF
        return f"ERRNO({_errno.errorcode.get(data, data)})"
    return {RET_ALLOW: "ALLOW", RET_KILL_PROCESS: "KILL_PROCESS", RET_KILL_THREAD: "KILL_THREAD",
            RET_TRAP: "TRAP", RET_LOG: "LOG", RET_TRACE: f"TRACE({ret & 0xFFFF})"}.get(action, hex(ret))


# ---------------------------------------------------------------- compiling a profile
@dataclass
class CompiledFilter:
    program: bytes                 # packed struct sock_filter array, for seccomp_set_filter
    flags: int = 0                 # SECCOMP_FILTER_FLAG_* from the profile's "flags"
    notes: list[str] = field(default_factory=list)  # what was skipped, and why

    @property
    def instructions(self) -> int:
        return len(self.program) // 8


@dataclass
class _Rule:
    ret: int
    conditions: list[tuple[int, str, int, int]]  # (arg index, op, value, valueTwo); [] = always


def _action(value: Any, errno_ret: Any, default_errno: int, field_name: str) -> int:
    if value in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return RET_KILL_THREAD
    if value == "SCMP_ACT_KILL_PROCESS":
        return RET_KILL_PROCESS
    if value == "SCMP_ACT_TRAP":
        return RET_TRAP
    if value == "SCMP_ACT_ALLOW":
        return RET_ALLOW
    if value == "SCMP_ACT_LOG":
        return RET_LOG
    if value in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        data = default_errno if errno_ret is None else errno_ret
        if isinstance(data, bool) or not isinstance(data, int) or not 0 <= data <= 0xFFFF:
            raise SeccompError(f"{field_name}: errnoRet {data!r} is not a number 0..65535")
        return (RET_ERRNO if value == "SCMP_ACT_ERRNO" else RET_TRACE) | data
    if value == "SCMP_ACT_NOTIFY":
        raise SeccompError(f"{field_name}: SCMP_ACT_NOTIFY needs a seccomp agent; not supported")
    raise SeccompError(f"{field_name}: unknown action {value!r}")


def _u64(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
        raise SeccompError(f"{field_name}: {value!r} is not an unsigned 64-bit number")
    return value


def compile_profile(seccomp: dict[str, Any], *, unknown: str = "error") -> CompiledFilter:
    """Compile an OCI linux.seccomp object. unknown="skip" skips unknown syscall names (runc's way)."""
    if platform.machine() != "x86_64":
        raise SeccompError(f"linux.seccomp: only x86_64 is supported, this is {platform.machine()}")
    if not isinstance(seccomp, dict):
        raise SeccompError("linux.seccomp: must be an object")
    table = syscall_table()
    notes: list[str] = []
    default_errno = seccomp.get("defaultErrnoRet")
    if default_errno is None:
        default_errno = _errno.EPERM
    default = _action(seccomp.get("defaultAction"), default_errno, _errno.EPERM,
                      "linux.seccomp.defaultAction")

    for i, arch in enumerate(seccomp.get("architectures") or []):
        if arch not in ARCHITECTURES:
            raise SeccompError(f"linux.seccomp.architectures[{i}]: unknown architecture {arch!r}")
        if arch != "SCMP_ARCH_X86_64":
            notes.append(f"{arch}: not compiled; its system calls are killed (x86_64 numbers only)")
    flags = 0
    for i, name in enumerate(seccomp.get("flags") or []):
        if name not in FILTER_FLAGS:
            raise SeccompError(f"linux.seccomp.flags[{i}]: unknown flag {name!r}")
        flags |= FILTER_FLAGS[name]
    if seccomp.get("listenerPath"):
        raise SeccompError("linux.seccomp.listenerPath: seccomp agents are not supported")

    rules: dict[int, list[_Rule]] = {}
    for i, entry in enumerate(seccomp.get("syscalls") or []):
        f = f"linux.seccomp.syscalls[{i}]"
        if not isinstance(entry, dict):
            raise SeccompError(f"{f}: must be an object")
        # A rule's ERRNO without errnoRet is EPERM (defaultErrnoRet is for defaultAction only), as in runc.
        ret = _action(entry.get("action"), entry.get("errnoRet"), _errno.EPERM, f"{f}.action")
        conditions = []
        for j, arg in enumerate(entry.get("args") or []):
            af = f"{f}.args[{j}]"
            index = arg.get("index") if isinstance(arg, dict) else None
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 5:
                raise SeccompError(f"{af}.index: {index!r} is not 0..5")
            op = arg.get("op")
            if op not in OPERATORS:
                raise SeccompError(f"{af}.op: unknown operator {op!r}")
            conditions.append((index, op, _u64(arg.get("value", 0), f"{af}.value"),
                               _u64(arg.get("valueTwo", 0), f"{af}.valueTwo")))
        # As in runc: the conditions of one entry must all hold (AND), unless two test the
        # same argument - libseccomp cannot AND those, so each becomes its own rule (OR).
        indexes = [c[0] for c in conditions]
        groups = [[c] for c in conditions] if len(set(indexes)) < len(indexes) else [conditions]
        names = entry.get("names") or ([entry["name"]] if entry.get("name") else [])
        if not names:
            raise SeccompError(f"{f}.names: at least one syscall name is required")
        for j, name in enumerate(names):
            nr = table.get(name)
            if nr is None:
                if unknown == "skip":
                    notes.append(f"{f}.names[{j}]: {name!r} is not an x86_64 syscall here; skipped")
                    continue
                raise SeccompError(f"{f}.names[{j}]: unknown syscall {name!r} on x86_64")
            existing = rules.setdefault(nr, [])
            for group in groups:
                if not group and any(not r.conditions and r.ret != ret for r in existing):
                    raise SeccompError(f"{f}.names[{j}]: {name!r} already has another unconditional action")
                existing.append(_Rule(ret, group))
    program = assemble(_emit(rules, default, max(table.values())))
    return CompiledFilter(program, flags, notes)


def to_bpf(seccomp: dict[str, Any]) -> bytes:
    """OCI linux.seccomp -> the BPF program bytes (see compile_profile() for details)."""
    return compile_profile(seccomp).program


def load(seccomp: dict[str, Any], sys: Syscalls | None = None) -> CompiledFilter:
    """Compile and install the filter on the calling thread (needs no_new_privs or CAP_SYS_ADMIN)."""
    compiled = compile_profile(seccomp)
    (sys or Syscalls()).seccomp_set_filter(compiled.program, compiled.flags,
                                           why=f"seccomp filter: {compiled.instructions} BPF instructions")
    return compiled


def _emit(rules: dict[int, list[_Rule]], default: int, max_nr: int) -> list[Insn]:
    code = [
        Insn(LD_W_ABS, OFF_ARCH, comment="which ABI made the call?"),
        Insn(JMP_JEQ_K, AUDIT_ARCH_X86_64, jt=1, jf=0),
        Insn(RET_K, RET_KILL_PROCESS, comment="i386 etc.: our numbers would mean other calls"),
        Insn(LD_W_ABS, OFF_NR, comment="the syscall number"),
        Insn(JMP_JGE_K, X32_SYSCALL_BIT, jt=0, jf=1),
        Insn(RET_K, RET_KILL_PROCESS, comment="x32 ABI"),
    ]
    if default not in (RET_ALLOW, RET_LOG):
        # Calls newer than our table: ENOSYS tells libc "not here, use the old call" (runc does this).
        code += [Insn(JMP_JGT_K, max_nr, jt=0, jf=1), Insn(RET_K, RET_ERRNO | _errno.ENOSYS)]
    for nr in sorted(rules):
        conditional = [r for r in rules[nr] if r.conditions]
        fallback = next((r.ret for r in rules[nr] if not r.conditions), default)
        if not conditional:
            if fallback != default:
                code += [Insn(JMP_JEQ_K, nr, jt=0, jf=1), Insn(RET_K, fallback)]
            continue
        end = f"end{nr}"
        block: list[Insn] = []
        for n, rule in enumerate(conditional):
            next_rule = f"r{nr}.{n + 1}"
            first = len(block)
            for index, op, value, value_two in rule.conditions:
                block += _compare(index, op, value, value_two, fail=next_rule)
            block.append(Insn(RET_K, rule.ret))
            if n:
                block[first].label = f"r{nr}.{n}"  # a failed check of the rule before jumps here
        # No rule matched: the syscall's unconditional action, or the default.
        block.append(Insn(RET_K, fallback, label=f"r{nr}.{len(conditional)}"))
        # A is clobbered by argument loads; reload the number for the next block.
        code.append(Insn(JMP_JEQ_K, nr, jt=0, jf=end))
        code += block
        code.append(Insn(LD_W_ABS, OFF_NR, label=end))
    code.append(Insn(RET_K, default, comment="defaultAction"))
    return code


_labels = count()


def _compare(index: int, op: str, value: int, value_two: int, fail: str) -> list[Insn]:
    """Instructions that fall through when args[index] OP value holds, else jump to `fail`."""
    lo_off, hi_off = OFF_ARGS + 8 * index, OFF_ARGS + 8 * index + 4
    hi, lo = value >> 32, value & 0xFFFFFFFF
    ok = f"ok{next(_labels)}"
    out: list[Insn]
    if op == "SCMP_CMP_MASKED_EQ":
        # (arg & value) == valueTwo
        return [Insn(LD_W_ABS, hi_off), Insn(ALU_AND_K, hi), Insn(JMP_JEQ_K, value_two >> 32, jt=0, jf=fail),
                Insn(LD_W_ABS, lo_off), Insn(ALU_AND_K, lo),
                Insn(JMP_JEQ_K, value_two & 0xFFFFFFFF, jt=0, jf=fail)]
    if op == "SCMP_CMP_EQ":
        return [Insn(LD_W_ABS, hi_off), Insn(JMP_JEQ_K, hi, jt=0, jf=fail),
                Insn(LD_W_ABS, lo_off), Insn(JMP_JEQ_K, lo, jt=0, jf=fail)]
    if op == "SCMP_CMP_NE":
        out = [Insn(LD_W_ABS, hi_off), Insn(JMP_JEQ_K, hi, jt=0, jf=ok),
               Insn(LD_W_ABS, lo_off), Insn(JMP_JEQ_K, lo, jt=fail, jf=0)]
    else:
        # Unsigned 64-bit order: the high words decide unless equal, then the low words.
        # GT/GE hold when (hi > H) or (hi == H and lo >/>= L); LT/LE are their negations.
        strict = op in ("SCMP_CMP_GT", "SCMP_CMP_LE")
        low_jump = JMP_JGT_K if strict else JMP_JGE_K
        positive = op in ("SCMP_CMP_GT", "SCMP_CMP_GE")
        yes, no = (ok, fail) if positive else (fail, ok)
        out = [Insn(LD_W_ABS, hi_off), Insn(JMP_JGT_K, hi, jt=yes, jf=0), Insn(JMP_JEQ_K, hi, jt=0, jf=no),
               Insn(LD_W_ABS, lo_off), Insn(low_jump, lo, jt=yes, jf=no)]
    # `ok` labels the first instruction after the comparison: a no-op jump keeps it simple.
    out.append(Insn(JMP_JA, 0, label=ok))
    return out


# ---------------------------------------------------------------- the default profile (RuntimeDefault)
# Docker's default allows these for every container (x86_64 names; 32-bit-only names left out).
def _words(text: str) -> list[str]:
    return text.split()


DEFAULT_ALLOWED = _words("""
accept accept4 access adjtimex alarm arch_prctl bind brk cachestat capget capset chdir chmod chown
clock_adjtime clock_getres clock_gettime clock_nanosleep close close_range connect copy_file_range creat
dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fallocate
fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchownat fcntl fdatasync fgetxattr flistxattr flock
fork fremovexattr fsetxattr fstat fstatfs fsync ftruncate futex futex_requeue futex_wait futex_waitv
futex_wake futimesat getcpu getcwd getdents getdents64 getegid geteuid getgid getgroups getitimer
getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresuid getrlimit
get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid
getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
io_getevents io_pgetevents ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
io_uring_setup kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lgetxattr link
linkat listen listxattr llistxattr lremovexattr lseek lsetxattr lstat madvise map_shadow_stack membarrier
memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap modify_ldt
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink mremap msgctl msgget
msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat open openat openat2
pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll prctl pread64
preadv preadv2 prlimit64 process_mrelease pselect6 pwrite64 pwritev pwritev2 read readahead readlink
readlinkat readv recvfrom recvmmsg recvmsg remap_file_pages removexattr rename renameat renameat2
restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
sendfile sendmmsg sendmsg sendto setfsgid setfsuid setgid setgroups setitimer setpgid setpriority
setregid setresgid setresuid setreuid setrlimit set_robust_list setsid setsockopt set_thread_area
set_tid_address setuid setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
socket socketpair splice stat statfs statx symlink symlinkat sync sync_file_range syncfs sysinfo tee
tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_settime timerfd_create
timerfd_gettime timerfd_settime times tkill truncate umask uname unlink unlinkat utime utimensat utimes
vfork vmsplice wait4 waitid write writev
""")

# Allowed only when the container keeps the capability (the kernel would refuse most of them
# without it anyway; the filter also removes the attack surface of the code behind them).
ALLOWED_WITH_CAPABILITY = {
    "CAP_SYS_ADMIN": _words("bpf clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount "
                            "mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd "
                            "setdomainname sethostname setns syslog umount2 unshare"),
    "CAP_SYS_BOOT": ["reboot"],
    "CAP_SYS_CHROOT": ["chroot"],
    "CAP_SYS_MODULE": ["delete_module", "init_module", "finit_module"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_PTRACE": ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
                       "ptrace"],
    "CAP_SYS_RAWIO": ["iopl", "ioperm"],
    "CAP_SYS_TIME": ["settimeofday", "clock_settime"],
    "CAP_SYS_TTY_CONFIG": ["vhangup"],
    "CAP_SYS_NICE": ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
    "CAP_DAC_READ_SEARCH": ["open_by_handle_at"],
}

# What RuntimeDefault is for: these stay EPERM for an ordinary container (by not being allowed).
DENIED_BY_DEFAULT = {
    "mount": "new mounts could hide or expose host files",
    "umount2": "unmounting could reveal what a mount hides",
    "unshare": "new namespaces are a large kernel attack surface",
    "setns": "joining another namespace could escape the container",
    "pivot_root": "changing the root is the runtime's job, done before the filter",
    "keyctl": "the kernel keyring is not namespaced",
    "add_key": "the kernel keyring is not namespaced",
    "request_key": "the kernel keyring is not namespaced",
    "kexec_load": "loads a new kernel",
    "kexec_file_load": "loads a new kernel",
    "bpf": "eBPF programs run in the kernel",
    "ptrace": "tracing can read other processes' memory",
    "init_module": "loads kernel code",
    "finit_module": "loads kernel code",
    "open_by_handle_at": "could open host files by handle (the 'shocker' escape)",
    "userfaultfd": "a favourite tool for kernel exploits",
    "perf_event_open": "leaks kernel information",
    "reboot": "would reboot the node",
    "swapon": "node-wide", "swapoff": "node-wide", "acct": "node-wide",
    "settimeofday": "the clock is node-wide",
}

# Docker's default capability set: what a container has unless its config says otherwise.
DEFAULT_CAPABILITIES = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")

# clone(2) flags that make new namespaces; clone is allowed only without them (no CAP_SYS_ADMIN).
CLONE_NAMESPACE_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


def default_profile(capabilities: Iterable[str] = DEFAULT_CAPABILITIES) -> dict[str, Any]:
    """The RuntimeDefault profile, Docker-like, as an OCI linux.seccomp object.

    Anything not listed fails with EPERM; `capabilities` (the container's bounding set)
    adds the calls that capability is meant to permit.
    """
    table = syscall_table()
    caps = set(capabilities)
    allowed = list(DEFAULT_ALLOWED)
    for cap, names in ALLOWED_WITH_CAPABILITY.items():
        if cap in caps:
            allowed += names
    # Only names this table knows: newer calls are answered ENOSYS by the filter's prologue.
    allowed = sorted({n for n in allowed if n in table})
    syscalls: list[dict[str, Any]] = [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
    # personality(2): only the harmless personas (Linux, 32-bit-uname, and "query").
    for persona in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF):
        syscalls.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}]})
    if "CAP_SYS_ADMIN" not in caps:
        syscalls.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0,
                                   "op": "SCMP_CMP_MASKED_EQ"}]})
        # ENOSYS (not EPERM) so glibc falls back to clone(2), whose flags we can check.
        syscalls.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": _errno.ENOSYS})
    else:
        syscalls.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW"})
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": _errno.EPERM,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": syscalls}
