"""What the container's process may do: user and groups, capabilities, no_new_privs, seccomp.

Shared by the init (init.py) and by exec (exec.py), so an exec'd process gets
exactly the same restrictions as the container's first process. The capability
and seccomp details live in capabilities.py and seccomp.py; this module decides
the order, which matters:
  * seccomp without no_new_privs needs CAP_SYS_ADMIN, so it is loaded before the
    capabilities are dropped; with no_new_privs it is loaded last, right before
    execve, so the filter does not have to allow the runtime's own calls;
  * the uid change would clear every capability, so PR_SET_KEEPCAPS holds them
    across setresuid, and the five sets are applied afterwards.
"""

from __future__ import annotations

from typing import Any

from minikube_py.runtime.errors import ContainerError


def check(config: dict[str, Any]) -> None:
    """Refuse unknown capabilities, bad rlimits and bad seccomp profiles before anything is created."""
    from minikube_py.runtime import capabilities, rlimits

    process = config.get("process") or {}
    try:
        if process.get("capabilities") is not None:
            capabilities.parse(process["capabilities"])
        rlimits.parse(process.get("rlimits"))
    except (capabilities.CapabilityError, rlimits.RlimitError) as exc:
        raise ContainerError(f"config.json: {exc}") from None
    seccomp_program(config)


def set_rlimits(sys: Any, process: dict[str, Any]) -> None:
    from minikube_py.runtime import rlimits

    rlimits.apply(process.get("rlimits"), sys)


def seccomp_program(config: dict[str, Any]) -> Any:
    """linux.seccomp compiled to BPF (seccomp.CompiledFilter), or None. Compiled in the
    runtime, before any fork, so a bad profile fails create cleanly."""
    profile = (config.get("linux") or {}).get("seccomp")
    if not profile:
        return None
    from minikube_py.runtime import seccomp

    try:
        # Unknown names are skipped, as runc does: profiles list calls newer than the kernel.
        return seccomp.compile_profile(profile, unknown="skip")
    except seccomp.SeccompError as exc:
        raise ContainerError(f"config.json: {exc}") from None


def load_seccomp(sys: Any, compiled: Any) -> None:
    if compiled is not None:
        sys.seccomp_set_filter(compiled.program, compiled.flags,
                               why=f"linux.seccomp: {compiled.instructions} BPF instructions")


def set_identity(sys: Any, process: dict[str, Any]) -> None:
    """Groups, gid, uid and the five capability sets (runc's finalizeNamespace)."""
    user = process.get("user") or {}

    def switch_user() -> None:
        sys.setgroups(list(user.get("additionalGids") or []), why="process.user.additionalGids")
        sys.setresgid(user.get("gid", 0), why="process.user.gid")
        sys.setresuid(user.get("uid", 0), why="process.user.uid")

    caps = process.get("capabilities")
    if caps is None:  # no capabilities in the config: the process keeps what the user has
        switch_user()
        return
    from minikube_py.runtime import capabilities

    try:
        capabilities.apply_oci(caps, switch_user=switch_user, sys=sys)
    except capabilities.CapabilityError as exc:
        raise ContainerError(str(exc)) from None
