"""The one error type of cluster DNS."""


class DnsError(Exception):
    """Bad DNS configuration (listen address, upstream, pod dnsPolicy/dnsConfig)."""
