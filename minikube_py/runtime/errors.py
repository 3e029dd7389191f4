"""The runtime's one error type.

Every failure the runtime reports to its caller (a bad config value, a wrong
state, an unknown id, a kernel call that failed inside the container's init)
is a ContainerError whose message names the field, the container or the call.
The CLI prints it and exits non-zero.
"""


class ContainerError(Exception):
    pass
