"""cffi (API mode) build of the native shim: native/shim.c -> minikube_py._shim.

Used by setup.py during `pip install .`; to build in place in a source checkout:
    python setup.py build_ext --inplace     (the shim and native/programs/)
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

# Kernel constants exported to Python. `#define X ...` lets cffi read the real
# value from the headers at build time, so nothing is copied by hand.
CONSTANTS = [
    # namespaces (clone/unshare/setns)
    "CLONE_NEWNS", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWPID", "CLONE_NEWNET",
    "CLONE_NEWUSER", "CLONE_NEWCGROUP", "CLONE_NEWTIME",
    # mount(2) flags
    "MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_NOEXEC", "MS_SYNCHRONOUS", "MS_REMOUNT",
    "MS_MANDLOCK", "MS_DIRSYNC", "MS_NOATIME", "MS_NODIRATIME", "MS_BIND", "MS_MOVE",
    "MS_REC", "MS_SILENT", "MS_UNBINDABLE", "MS_PRIVATE", "MS_SLAVE", "MS_SHARED",
    "MS_RELATIME", "MS_STRICTATIME", "MS_LAZYTIME",
    # umount2(2) flags
    "MNT_FORCE", "MNT_DETACH", "MNT_EXPIRE", "UMOUNT_NOFOLLOW",
    # seccomp
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
]

CDEF = """
long mkpy_clone(unsigned long flags);
int mkpy_unshare(int flags);
int mkpy_setns(int fd, int nstype);
int mkpy_pivot_root(const char *new_root, const char *put_old);
int mkpy_mount(const char *source, const char *target, const char *fstype,
               unsigned long flags, const char *data);
int mkpy_umount2(const char *target, int flags);
int mkpy_sethostname(const char *name, size_t len);
int mkpy_setdomainname(const char *name, size_t len);
int mkpy_seccomp_set_filter(unsigned int flags, unsigned short len, const void *filter);
""" + "".join(f"#define {name} ...\n" for name in CONSTANTS)

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "minikube_py._shim",
    '#include <sched.h>\n#include <sys/mount.h>\n'
    '#include <linux/seccomp.h>\n#include "shim.h"\n'
    # CLONE_NEWTIME arrived in glibc 2.36 headers; older hosts get the kernel value.
    "#ifndef CLONE_NEWTIME\n#define CLONE_NEWTIME 0x00000080\n#endif\n",
    # Relative to the repository root: setuptools refuses absolute source paths.
    sources=["native/shim.c"],
    include_dirs=["native"],
    extra_compile_args=["-O2", "-Wall"],
)
