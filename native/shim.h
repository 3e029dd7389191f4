/* The kernel calls minikube_py needs that Python 3.11's `os` module lacks.
 *
 * Each function is a thin wrapper around one system call and returns what the
 * kernel returned (-1 with errno set on failure). All logic lives in Python:
 * minikube_py/kernel/shim.py turns failures into OSError and names the call.
 */
#ifndef MKPY_SHIM_H
#define MKPY_SHIM_H

#include <stddef.h>

/* clone(2) used like fork(2): the child returns 0, the parent gets the pid.
 * `flags` are CLONE_NEW* bits; SIGCHLD is added so waitpid() works as usual. */
long mkpy_clone(unsigned long flags);

int mkpy_unshare(int flags);
int mkpy_setns(int fd, int nstype);
int mkpy_pivot_root(const char *new_root, const char *put_old);
int mkpy_mount(const char *source, const char *target, const char *fstype,
               unsigned long flags, const char *data);
int mkpy_umount2(const char *target, int flags);
int mkpy_sethostname(const char *name, size_t len);
int mkpy_setdomainname(const char *name, size_t len);
/* Load a classic-BPF seccomp program (an array of struct sock_filter). */
int mkpy_seccomp_set_filter(unsigned int flags, unsigned short len, const void *filter);

#endif
