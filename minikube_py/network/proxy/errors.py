"""The one error type of the service proxy."""


class ProxyError(Exception):
    """A Service/Endpoints object the proxy cannot use, or an iptables/conntrack call that failed."""
