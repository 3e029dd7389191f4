/* See shim.h. Compiled by cffi (API mode) into minikube_py._shim. */
#define _GNU_SOURCE
#include <Python.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

long mkpy_clone(unsigned long flags)
{
    /* cffi releases the GIL around this call; take it back, because the
     * interpreter must be told about the fork exactly as os.fork() does
     * (locks re-initialised in the child, at-fork hooks run). */
    PyGILState_STATE gil = PyGILState_Ensure();
    PyOS_BeforeFork();
    long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    int saved = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    errno = saved;
    return pid;
}

int mkpy_unshare(int flags) { return unshare(flags); }

int mkpy_setns(int fd, int nstype) { return setns(fd, nstype); }

int mkpy_pivot_root(const char *new_root, const char *put_old)
{
    /* glibc has no wrapper for pivot_root(2). */
    return syscall(SYS_pivot_root, new_root, put_old);
}

int mkpy_mount(const char *source, const char *target, const char *fstype,
               unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

int mkpy_umount2(const char *target, int flags) { return umount2(target, flags); }

int mkpy_sethostname(const char *name, size_t len) { return sethostname(name, len); }

int mkpy_setdomainname(const char *name, size_t len) { return setdomainname(name, len); }

int mkpy_seccomp_set_filter(unsigned int flags, unsigned short len, const void *filter)
{
    struct sock_fprog prog = { .len = len, .filter = (struct sock_filter *)filter };
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}
