"""The one error type of the cgroups package."""

from __future__ import annotations


class CgroupError(Exception):
    """A cgroup could not be created, configured, read or removed.

    The message starts with the OCI field (e.g. `linux.resources.memory.limit`) or
    the argument (e.g. `cgroupsPath`) that caused it, so a student can fix the config.
    """
