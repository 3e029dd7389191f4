"""The one error type of the ingress controller."""


class IngressError(Exception):
    """The controller cannot start (address in use, API not reachable) or a bad argument."""
