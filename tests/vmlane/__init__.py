"""The VM lane: run commands inside a user-mode-linux kernel with pure cgroup v2.

The developers' and CI machines have hybrid cgroups (v1 owns cpu/memory/pids);
the students' VMs are pure cgroup v2. Debian's `user-mode-linux` boots a real
6.x kernel as an ordinary process in about two seconds, so tests that need v2
(or a kernel of their own) run there. See uml.py for the host side and
vm_init.py for what runs as PID 1 inside.
"""
