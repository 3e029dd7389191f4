"""The kernel layer: every host call the project makes goes through here.

`shim` is the raw cffi binding (clone, unshare, setns, pivot_root, mount, ...),
raising OSError that names the call. `syscalls` is the facade the runtime and
network code use: one object whose methods are the kernel calls, so that unit
tests can swap in `FakeSyscalls` and a student can read every call in a trace.
"""
