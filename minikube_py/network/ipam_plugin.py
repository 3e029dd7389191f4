"""`mkpy-ipam`: a CNI IPAM plugin like host-local, over ipam.py.

A main plugin (mkpy-cni, or Debian's bridge) runs it with the same environment
and stdin it got itself, and uses the addresses it prints:
    CNI_COMMAND=ADD ... mkpy-ipam < netconf.json
    {"cniVersion": "1.0.0", "ips": [{"address": "10.244.0.7/24", "gateway": "10.244.0.1"}], "routes": [...]}
"""

from __future__ import annotations

import sys

from minikube_py.network import ipam
from minikube_py.network.cni_types import (
    ERR_CHECK_FAILED,
    CniEnv,
    CniError,
    plugin_main,
    shape_result,
)


def handle(env: CniEnv, conf: dict, raw: bytes) -> dict | None:
    cfg = ipam.parse_config(conf)
    if env.command == "ADD":
        allocated = ipam.allocate(cfg, env.container_id, env.ifname)
        return shape_result(ipam.result_for(cfg, allocated, conf["cniVersion"]), conf["cniVersion"])
    if env.command == "DEL":
        ipam.release(cfg, env.container_id, env.ifname)
        return None
    # CHECK: the container must still hold an address in every range set.
    mine = ipam.allocated_to(cfg, env.container_id, env.ifname)
    for i, rangeset in enumerate(cfg.rangesets):
        if not any(ip in r for r in rangeset for ip in mine):
            raise CniError(
                ERR_CHECK_FAILED,
                f"no address allocated in range set {i}",
                f"container {env.container_id} ifname {env.ifname}",
            )
    return None


def main() -> int:
    return plugin_main(handle)


if __name__ == "__main__":
    sys.exit(main())
