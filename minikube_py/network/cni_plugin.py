"""`mkpy-cni`: a CNI 1.0 bridge plugin on pyroute2 (what Debian's `bridge` plugin does, readable).

Run it as a CNI runtime would, in the node's network namespace (where the bridge is):
    CNI_COMMAND=ADD CNI_CONTAINERID=abc CNI_NETNS=/run/netns/pod1 CNI_IFNAME=eth0 \
    CNI_PATH=/usr/lib/cni:... mkpy-cni < netconf.json

ADD, step by step (each one a netlink request):
  1. ask the IPAM plugin named by ipam.type (an executable on CNI_PATH) for addresses;
  2. make sure the bridge exists, is up and holds the gateway address;
  3. create a veth pair: the node end `veth<hash>` here, the other end born directly
     inside the pod's namespace as `eth0`;
  4. plug the node end into the bridge, hairpin mode on (so a pod can reach itself
     through a service address that NATs back to it), up;
  5. inside the pod: lo up, eth0 up with MTU and address, the default route via the bridge.
DEL undoes it and succeeds when things are already gone; CHECK compares the
namespace with the result ADD returned (prevResult).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import sys
from dataclasses import dataclass

from minikube_py.network.addressing import check_ifname, host_veth_name, stable_mac
from minikube_py.network.cni_types import (
    ERR_CHECK_FAILED,
    ERR_INVALID_CONFIG,
    ERR_PLUGIN,
    ERR_UNKNOWN_CONTAINER,
    CniEnv,
    CniError,
    exec_plugin,
    find_plugin,
    plugin_main,
    shape_result,
)
from minikube_py.network.errors import NetworkError
from minikube_py.network.netns import is_netns, open_iproute

AF_INET = 2
RT_TABLE_MAIN = 254


@dataclass(frozen=True)
class Options:
    bridge: str
    is_gateway: bool
    is_default_gateway: bool
    hairpin: bool
    mtu: int
    ipam_type: str


def parse_options(conf: dict) -> Options:
    def flag(key: str, default: bool) -> bool:
        value = conf.get(key, default)
        if not isinstance(value, bool):
            raise CniError(ERR_INVALID_CONFIG, f"{key}: expected true or false, got {value!r}")
        return value

    try:
        bridge = check_ifname(conf.get("bridge", "mkpy0"), "bridge")
    except NetworkError as exc:
        raise CniError(ERR_INVALID_CONFIG, str(exc)) from None
    mtu = conf.get("mtu", 1500)
    if not isinstance(mtu, int) or isinstance(mtu, bool) or not 576 <= mtu <= 65535:
        raise CniError(ERR_INVALID_CONFIG, f"mtu: {mtu!r} is not an MTU between 576 and 65535")
    ipam = conf.get("ipam")
    if not isinstance(ipam, dict) or not isinstance(ipam.get("type"), str) or not ipam["type"]:
        raise CniError(ERR_INVALID_CONFIG, "ipam.type: the IPAM plugin to run must be named")
    return Options(
        bridge,
        flag("isGateway", True),
        flag("isDefaultGateway", True),
        flag("hairpinMode", True),
        mtu,
        ipam["type"],
    )


def _ipam(env: CniEnv, opts: Options, command: str, conf: dict) -> dict | None:
    """Delegate to the IPAM plugin with our own parameters and configuration, as the spec says."""
    cni_env = dict(
        os.environ,
        CNI_CONTAINERID=env.container_id,
        CNI_NETNS=env.netns,
        CNI_IFNAME=env.ifname,
        CNI_PATH=os.pathsep.join(env.path),
        CNI_ARGS=env.args,
    )
    return exec_plugin(find_plugin(opts.ipam_type, env.path), command, cni_env, conf)


def _nl_code(exc: BaseException) -> int | None:
    return getattr(exc, "code", None)


# ---------------------------------------------------------------------------- ADD
def add(env: CniEnv, conf: dict, here: str | None = None) -> dict:
    opts = parse_options(conf)
    check_ifname(env.ifname, "CNI_IFNAME")
    if not is_netns(env.netns):
        raise CniError(ERR_UNKNOWN_CONTAINER, f"CNI_NETNS {env.netns} is not a network namespace")
    # One netlink socket in each namespace: `node` here (where the bridge is), `pod` in the sandbox.
    with open_iproute(here) as node, open_iproute(env.netns) as pod:
        _refuse_existing(env, node, pod)  # before anything is allocated: a refused ADD changes nothing
        ipam_result = _ipam(env, opts, "ADD", conf) or {}
        ips = [ip for ip in ipam_result.get("ips", []) if ":" not in ip.get("address", ":")]
        if not ips:
            _ipam(env, opts, "DEL", conf)
            raise CniError(
                ERR_PLUGIN, f"IPAM plugin {opts.ipam_type} returned no IPv4 address", str(ipam_result)
            )
        try:
            result = _wire(env, opts, ips, ipam_result.get("routes") or [], node, pod)
        except BaseException:
            # Nothing half-applied: our veth (its peer goes with it) and the address go back.
            for idx in node.link_lookup(ifname=host_veth_name(env.container_id, env.ifname)):
                _ignore_gone(lambda i=idx: node.link("del", index=i))
            _ipam(env, opts, "DEL", conf)
            raise
    result["dns"] = ipam_result.get("dns") or {}
    return shape_result(result, conf["cniVersion"])


def _refuse_existing(env: CniEnv, node, pod) -> None:
    """ADD twice without DEL (or a name already taken in the pod) is an error, raised before
    anything changes, so the first ADD's interface and address stay intact."""
    host_name = host_veth_name(env.container_id, env.ifname)
    if node.link_lookup(ifname=host_name):
        raise CniError(
            ERR_PLUGIN,
            f"{host_name} already exists for container {env.container_id}",
            "ADD was called twice without DEL",
        )
    if pod.link_lookup(ifname=env.ifname):
        raise CniError(ERR_PLUGIN, f"interface {env.ifname} already exists in {env.netns}")


def _wire(env: CniEnv, opts: Options, ips: list[dict], ipam_routes: list[dict], node, pod) -> dict:
    host_name = host_veth_name(env.container_id, env.ifname)
    addrs = [ipaddress.IPv4Interface(ip["address"]) for ip in ips]
    gateway = next((ip["gateway"] for ip in ips if ip.get("gateway")), None)

    # In the node's namespace: the bridge, then the veth pair.
    gateways = [
        (ip["gateway"], a.network.prefixlen) for a, ip in zip(addrs, ips, strict=True) if ip.get("gateway")
    ]
    br_idx = _ensure_bridge(node, opts, gateways)
    pod_fd = os.open(env.netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        # The peer is created straight inside the pod's namespace under its final name,
        # so it never exists here and can never clash with a node interface.
        node.link(
            "add",
            ifname=host_name,
            kind="veth",
            mtu=opts.mtu,
            peer={"ifname": env.ifname, "net_ns_fd": pod_fd, "mtu": opts.mtu},
        )
    finally:
        os.close(pod_fd)
    host_idx = node.link_lookup(ifname=host_name)[0]
    node.link("set", index=host_idx, master=br_idx)
    if opts.hairpin:
        node.brport("set", index=host_idx, mode=1)  # IFLA_BRPORT_MODE = hairpin
    node.link("set", index=host_idx, state="up")
    host_mac = node.get_links(host_idx)[0].get("address")
    br_mac = node.get_links(br_idx)[0].get("address")

    routes = [{"dst": r["dst"], "gw": r.get("gw") or gateway} for r in ipam_routes]
    if opts.is_default_gateway and gateway and not any(r["dst"] == "0.0.0.0/0" for r in routes):
        routes.append({"dst": "0.0.0.0/0", "gw": gateway})
    routes = [r for r in routes if r["gw"]]

    # Inside the pod: lo and eth0 up, the address, the routes via the bridge.
    pod.link("set", index=pod.link_lookup(ifname="lo")[0], state="up")
    idx = pod.link_lookup(ifname=env.ifname)[0]
    for a in addrs:
        pod.addr("add", index=idx, address=str(a.ip), prefixlen=a.network.prefixlen)
    pod.link("set", index=idx, state="up")
    for r in routes:
        pod.route("add", dst=r["dst"], gateway=r["gw"], oif=idx)
    pod_mac = pod.get_links(idx)[0].get("address")

    return {
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": opts.bridge, "mac": br_mac},
            {"name": host_name, "mac": host_mac},
            {"name": env.ifname, "mac": pod_mac, "sandbox": env.netns},
        ],
        "ips": [dict(ip, interface=2) for ip in ips],
        "routes": routes,
    }


def _ensure_bridge(ipr, opts: Options, gateways: list[tuple[str, int]]) -> int:
    found = ipr.link_lookup(ifname=opts.bridge)
    if not found:
        try:
            ipr.link(
                "add",
                ifname=opts.bridge,
                kind="bridge",
                mtu=opts.mtu,
                address=stable_mac(f"{os.uname().nodename}/{opts.bridge}"),
            )
        except Exception as exc:  # another ADD made it first: fine
            if _nl_code(exc) != errno.EEXIST:
                raise
        found = ipr.link_lookup(ifname=opts.bridge)
    idx = found[0]
    if opts.is_gateway:
        have = {a.get("address") for a in ipr.get_addr(index=idx, family=AF_INET)}
        for gw, prefix in gateways:
            if gw not in have:
                try:
                    ipr.addr("add", index=idx, address=gw, prefixlen=prefix)
                except Exception as exc:
                    if _nl_code(exc) != errno.EEXIST:
                        raise
    ipr.link("set", index=idx, state="up")
    return idx


# ---------------------------------------------------------------------------- DEL
def delete(env: CniEnv, conf: dict, here: str | None = None) -> None:
    opts = parse_options(conf)
    _ipam(env, opts, "DEL", conf)
    _remove_links(env, opts, here)


def _remove_links(env: CniEnv, opts: Options, here: str | None) -> None:
    """Delete the pod's veth from both sides; gone already is fine."""
    with open_iproute(here) as ipr:
        for idx in ipr.link_lookup(ifname=host_veth_name(env.container_id, env.ifname)):
            _ignore_gone(lambda i=idx: ipr.link("del", index=i))  # the peer in the pod goes with it
    if env.netns and is_netns(env.netns):
        with open_iproute(env.netns) as pod:
            for idx in pod.link_lookup(ifname=env.ifname):
                _ignore_gone(lambda i=idx: pod.link("del", index=i))


def _ignore_gone(fn) -> None:
    try:
        fn()
    except Exception as exc:
        if _nl_code(exc) not in (errno.ENODEV, errno.ENOENT):
            raise


# ---------------------------------------------------------------------------- CHECK
def check(env: CniEnv, conf: dict, here: str | None = None) -> None:
    opts = parse_options(conf)
    prev = conf.get("prevResult")
    if not isinstance(prev, dict):
        raise CniError(ERR_INVALID_CONFIG, "prevResult: CHECK needs the result of ADD")
    _ipam(env, opts, "CHECK", conf)
    if not is_netns(env.netns):
        raise CniError(ERR_UNKNOWN_CONTAINER, f"CNI_NETNS {env.netns} is not a network namespace")
    interfaces = prev.get("interfaces") or []
    mine = [
        i
        for i, intf in enumerate(interfaces)
        if intf.get("name") == env.ifname and intf.get("sandbox") == env.netns
    ]
    if not mine:
        raise CniError(ERR_CHECK_FAILED, f"prevResult has no interface {env.ifname} in {env.netns}")

    def fail(what: str) -> CniError:
        return CniError(ERR_CHECK_FAILED, what, f"container {env.container_id}")

    with open_iproute(env.netns) as pod:
        found = pod.link_lookup(ifname=env.ifname)
        if not found:
            raise fail(f"interface {env.ifname} is missing from {env.netns}")
        link = pod.get_links(found[0])[0]
        want_mac = interfaces[mine[0]].get("mac")
        if want_mac and link.get("address") != want_mac:
            raise fail(f"{env.ifname} has MAC {link.get('address')}, ADD gave {want_mac}")
        have = {f"{a.get('address')}/{a['prefixlen']}" for a in pod.get_addr(index=found[0], family=AF_INET)}
        for ip in prev.get("ips") or []:
            if ip.get("interface") == mine[0] and ip["address"] not in have:
                raise fail(f"address {ip['address']} is missing from {env.ifname}")
        routes = {
            (f"{r.get('dst') or '0.0.0.0'}/{r['dst_len']}", r.get("gateway"))
            for r in pod.get_routes(family=AF_INET, table=RT_TABLE_MAIN)
        }
        for r in prev.get("routes") or []:
            if ":" in r["dst"]:
                continue
            if not any(dst == r["dst"] and (not r.get("gw") or gw == r["gw"]) for dst, gw in routes):
                raise fail(f"route {r['dst']} via {r.get('gw')} is missing in {env.netns}")

    host_name = host_veth_name(env.container_id, env.ifname)
    with open_iproute(here) as ipr:
        host = ipr.link_lookup(ifname=host_name)
        bridge = ipr.link_lookup(ifname=opts.bridge)
        if not host or not bridge:
            raise fail(f"{host_name if not host else opts.bridge} is missing from the node namespace")
        link = ipr.get_links(host[0])[0]
        if link.get("master") != bridge[0]:
            raise fail(f"{host_name} is not a port of {opts.bridge}")
        if opts.hairpin and brport_attr(link, "IFLA_BRPORT_MODE") != 1:
            raise fail(f"hairpin mode is off on {host_name}")


def brport_attr(link, name: str):
    """A bridge-port setting of a link from its IFLA_LINKINFO/IFLA_INFO_SLAVE_DATA."""
    info = link.get_attr("IFLA_LINKINFO")
    slave = info.get_attr("IFLA_INFO_SLAVE_DATA") if info is not None else None
    return slave.get_attr(name) if slave is not None else None


# ---------------------------------------------------------------------------- entry
def handle(env: CniEnv, conf: dict, raw: bytes = b"", here: str | None = None) -> dict | None:
    """One CNI command. `here` is the node namespace's path when the caller is not already in it
    (in-process use: tests and benchmarks); the executable always works where it was started."""
    try:
        if env.command == "ADD":
            return add(env, conf, here)
        if env.command == "DEL":
            delete(env, conf, here)
        else:
            check(env, conf, here)
        return None
    except (CniError, NetworkError):
        raise
    except OSError as exc:
        raise CniError(ERR_PLUGIN, f"{env.command} failed", str(exc)) from None


def main() -> int:
    return plugin_main(handle)


if __name__ == "__main__":
    sys.exit(main())
