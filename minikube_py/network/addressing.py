"""Address arithmetic and name rules shared by the node, the CNI plugin and IPAM (pure, no I/O)."""

from __future__ import annotations

import hashlib
import ipaddress
import re

from minikube_py.network.errors import NetworkError

IFNAMSIZ = 15  # longest Linux interface name (16 bytes with the NUL)
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def parse_cidr(value: object, field: str, *, max_prefix: int = 30) -> ipaddress.IPv4Network:
    """An IPv4 network like 10.244.0.0/24 (host bits must be zero); errors name `field`."""
    if not isinstance(value, str):
        raise NetworkError(f"{field}: expected an IPv4 CIDR string, got {value!r}")
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise NetworkError(f"{field}: {value!r} is not an IPv4 network ({exc})") from None
    if net.prefixlen > max_prefix:
        raise NetworkError(f"{field}: {value!r} is too small (prefix longer than /{max_prefix})")
    return net


def gateway_of(net: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The node's bridge address in a pod CIDR: its first usable address (10.244.0.1)."""
    return net.network_address + 1


def check_ifname(name: object, field: str) -> str:
    if not isinstance(name, str) or not name or len(name) > IFNAMSIZ or not _IFNAME.match(name):
        raise NetworkError(f"{field}: {name!r} is not a valid interface name (1-{IFNAMSIZ} of A-Za-z0-9_.-)")
    return name


def host_veth_name(container_id: str, ifname: str) -> str:
    """The node-side end of a pod's veth: the same every time for one (container, ifname),
    so DEL can find it with nothing but the CNI environment (no state needed)."""
    digest = hashlib.sha256(f"{container_id}/{ifname}".encode()).hexdigest()
    return "veth" + digest[: IFNAMSIZ - 4]


def stable_mac(seed: str) -> str:
    """A locally administered unicast MAC derived from `seed`. A bridge given an explicit MAC
    keeps it; otherwise Linux gives it the lowest MAC among its ports, which changes as pods
    come and go (and breaks CNI CHECK, which compares the bridge's MAC with ADD's result)."""
    b = bytearray(hashlib.sha256(seed.encode()).digest()[:6])
    b[0] = (b[0] & 0xFE) | 0x02
    return ":".join(f"{x:02x}" for x in b)
