"""host-local style IP address management: ranges from the config, allocations as files.

Layout under dataDir/<network name>/ (the same idea as the reference host-local plugin):
    10.244.0.7            one file per allocated address; content "<container id>\n<ifname>"
    last_reserved_ip.0    where the last search ended, per range set, so addresses rotate
    lock                  flock()ed for every read-modify-write
The files *are* the allocation table: an agent restart, a crash between two
commands, or ten ADDs at once all see the same truth, and an address is only
ever handed out by creating its file with O_EXCL under the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass

from minikube_py.network.cni_types import ERR_INVALID_CONFIG, ERR_NO_ADDRESSES, CniError

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
IPv4 = ipaddress.IPv4Address


@dataclass(frozen=True)
class Range:
    subnet: ipaddress.IPv4Network
    start: IPv4
    end: IPv4
    gateway: IPv4 | None

    def __contains__(self, ip: IPv4) -> bool:
        return self.start <= ip <= self.end

    def addresses(self, after: IPv4 | None) -> Iterator[IPv4]:
        """Every candidate once, starting just after `after` and wrapping around (round robin)."""
        first, last = int(self.start), int(self.end)
        begin = int(after) + 1 if after is not None and self.start <= after < self.end else first
        for n in (*range(begin, last + 1), *range(first, begin)):
            ip = IPv4(n)
            if ip != self.gateway:
                yield ip


@dataclass(frozen=True)
class IpamConfig:
    network: str
    rangesets: list[list[Range]]
    routes: list[dict]
    dns: dict
    data_dir: str


def _ip(value: object, field: str) -> IPv4:
    try:
        return IPv4(value)  # type: ignore[arg-type]
    except ValueError:
        raise CniError(ERR_INVALID_CONFIG, f"{field}: {value!r} is not an IPv4 address") from None


def parse_range(spec: object, field: str) -> Range:
    if not isinstance(spec, dict):
        raise CniError(ERR_INVALID_CONFIG, f"{field}: expected an object with a subnet")
    try:
        subnet = ipaddress.IPv4Network(spec.get("subnet"), strict=True)
    except (ValueError, TypeError) as exc:
        raise CniError(
            ERR_INVALID_CONFIG, f"{field}.subnet: {spec.get('subnet')!r} is not an IPv4 network", str(exc)
        ) from None
    if subnet.prefixlen > 30:
        raise CniError(ERR_INVALID_CONFIG, f"{field}.subnet: {subnet} has no room for pods")
    gateway = _ip(spec["gateway"], f"{field}.gateway") if spec.get("gateway") else subnet.network_address + 1
    # The network and broadcast addresses are never handed out.
    start = (
        _ip(spec["rangeStart"], f"{field}.rangeStart")
        if spec.get("rangeStart")
        else subnet.network_address + 1
    )
    end = _ip(spec["rangeEnd"], f"{field}.rangeEnd") if spec.get("rangeEnd") else subnet.broadcast_address - 1
    for name, ip in (("gateway", gateway), ("rangeStart", start), ("rangeEnd", end)):
        if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address):
            raise CniError(ERR_INVALID_CONFIG, f"{field}.{name}: {ip} is not a host address of {subnet}")
    if start > end:
        raise CniError(ERR_INVALID_CONFIG, f"{field}: rangeStart {start} is after rangeEnd {end}")
    return Range(subnet, start, end, gateway)


def parse_config(conf: dict) -> IpamConfig:
    """The `ipam` section of a network configuration (`ranges`, or the older flat `subnet` form)."""
    ipam = conf.get("ipam")
    if not isinstance(ipam, dict):
        raise CniError(ERR_INVALID_CONFIG, "ipam: missing or not an object")
    if "ranges" in ipam:
        raw = ipam["ranges"]
        if not isinstance(raw, list) or not raw or not all(isinstance(rs, list) and rs for rs in raw):
            raise CniError(ERR_INVALID_CONFIG, "ipam.ranges: expected a non-empty list of non-empty lists")
        rangesets = [
            [parse_range(r, f"ipam.ranges[{i}][{j}]") for j, r in enumerate(rs)] for i, rs in enumerate(raw)
        ]
    elif "subnet" in ipam:
        rangesets = [[parse_range(ipam, "ipam")]]
    else:
        raise CniError(ERR_INVALID_CONFIG, "ipam: needs 'ranges' (or 'subnet')")
    routes = ipam.get("routes", [])
    if not isinstance(routes, list):
        raise CniError(ERR_INVALID_CONFIG, "ipam.routes: expected a list")
    for i, route in enumerate(routes):
        if not isinstance(route, dict):
            raise CniError(ERR_INVALID_CONFIG, f"ipam.routes[{i}]: expected an object")
        try:
            ipaddress.IPv4Network(route.get("dst"), strict=True)
        except (ValueError, TypeError):
            raise CniError(
                ERR_INVALID_CONFIG, f"ipam.routes[{i}].dst: {route.get('dst')!r} is not a network"
            ) from None
        if route.get("gw"):
            _ip(route["gw"], f"ipam.routes[{i}].gw")
    data_dir = ipam.get("dataDir") or DEFAULT_DATA_DIR
    if not isinstance(data_dir, str) or not os.path.isabs(data_dir):
        raise CniError(ERR_INVALID_CONFIG, f"ipam.dataDir: {data_dir!r} must be an absolute path")
    name = conf.get("name", "")
    if not name or "/" in name or name.startswith("."):
        raise CniError(ERR_INVALID_CONFIG, f"name: {name!r} cannot name a directory")
    return IpamConfig(name, rangesets, routes, ipam.get("dns") or {}, data_dir)


class Store:
    """The allocation files of one network, used only while holding lock()."""

    def __init__(self, data_dir: str, network: str) -> None:
        self.dir = os.path.join(data_dir, network)

    @contextlib.contextmanager
    def lock(self) -> Iterator[Store]:
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        fd = os.open(os.path.join(self.dir, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes, also if this process dies
            yield self
        finally:
            os.close(fd)

    def owner(self, ip: IPv4) -> tuple[str, str] | None:
        try:
            with open(os.path.join(self.dir, str(ip))) as f:
                cid, _, ifname = f.read().partition("\n")
        except FileNotFoundError:
            return None
        return cid.strip(), ifname.strip()

    def allocations(self) -> dict[IPv4, tuple[str, str]]:
        found = {}
        for name in os.listdir(self.dir):
            try:
                ip = IPv4(name)
            except ValueError:
                continue
            owner = self.owner(ip)
            if owner:
                found[ip] = owner
        return found

    def reserve(self, ip: IPv4, container_id: str, ifname: str) -> bool:
        try:
            fd = os.open(os.path.join(self.dir, str(ip)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(f"{container_id}\n{ifname}")
            f.flush()
            os.fsync(f.fileno())  # survives a crash: an address is never handed out twice
        return True

    def last_reserved(self, rangeset: int) -> IPv4 | None:
        try:
            with open(os.path.join(self.dir, f"last_reserved_ip.{rangeset}")) as f:
                return IPv4(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    def set_last_reserved(self, rangeset: int, ip: IPv4) -> None:
        path = os.path.join(self.dir, f"last_reserved_ip.{rangeset}")
        with open(path + ".tmp", "w") as f:
            f.write(str(ip))
        os.replace(path + ".tmp", path)

    def release(self, container_id: str, ifname: str) -> list[IPv4]:
        released = []
        for ip, owner in self.allocations().items():
            if owner == (container_id, ifname):
                os.unlink(os.path.join(self.dir, str(ip)))
                released.append(ip)
        return released


def allocate(cfg: IpamConfig, container_id: str, ifname: str) -> list[tuple[IPv4, Range]]:
    """One address from each range set for (container, ifname); the same ones if it already has them."""
    out = []
    with Store(cfg.data_dir, cfg.network).lock() as store:
        mine = {ip for ip, owner in store.allocations().items() if owner == (container_id, ifname)}
        taken: list[IPv4] = []
        try:
            for i, rangeset in enumerate(cfg.rangesets):
                existing = [(ip, r) for r in rangeset for ip in mine if ip in r]
                if existing:
                    out.append(existing[0])
                    continue
                got = _allocate_from(store, i, rangeset, container_id, ifname)
                taken.append(got[0])
                out.append(got)
        except CniError:
            for ip in taken:  # nothing half-applied: give back what this call took
                os.unlink(os.path.join(store.dir, str(ip)))
            raise
    return out


def _allocate_from(
    store: Store, index: int, rangeset: list[Range], container_id: str, ifname: str
) -> tuple[IPv4, Range]:
    last = store.last_reserved(index)
    # Start in the range that holds the last reservation, so rotation continues across ranges.
    order = sorted(range(len(rangeset)), key=lambda k: last is None or last not in rangeset[k])
    for k in order:
        r = rangeset[k]
        for ip in r.addresses(last if last is not None and last in r else None):
            if store.reserve(ip, container_id, ifname):
                store.set_last_reserved(index, ip)
                return ip, r
    shown = ", ".join(f"{r.start}-{r.end}" for r in rangeset)
    raise CniError(ERR_NO_ADDRESSES, "no IP addresses available in range set", shown)


def release(cfg: IpamConfig, container_id: str, ifname: str) -> list[IPv4]:
    """Give back every address of (container, ifname). Nothing to give back is fine (DEL is idempotent)."""
    if not os.path.isdir(os.path.join(cfg.data_dir, cfg.network)):
        return []
    with Store(cfg.data_dir, cfg.network).lock() as store:
        return store.release(container_id, ifname)


def allocated_to(cfg: IpamConfig, container_id: str, ifname: str) -> list[IPv4]:
    with Store(cfg.data_dir, cfg.network).lock() as store:
        return sorted(ip for ip, owner in store.allocations().items() if owner == (container_id, ifname))


def result_for(cfg: IpamConfig, allocated: list[tuple[IPv4, Range]], version: str) -> dict:
    ips = [
        {"address": f"{ip}/{r.subnet.prefixlen}", **({"gateway": str(r.gateway)} if r.gateway else {})}
        for ip, r in allocated
    ]
    return {"cniVersion": version, "ips": ips, "routes": cfg.routes, "dns": cfg.dns}
