"""The one error type of NetworkPolicy enforcement."""


class PolicyError(Exception):
    """A NetworkPolicy the enforcer cannot use (the message names the field), or a failed iptables load."""
