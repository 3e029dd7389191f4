"""A pod's /etc/resolv.conf from its spec.dnsPolicy and spec.dnsConfig, as the kubelet writes it.

  ClusterFirst (default)  nameserver <cluster DNS>; search <ns>.svc.<domain> svc.<domain> <domain>
                          [+ the node's search domains]; options ndots:5
  ClusterFirstWithHostNet the same for hostNetwork pods (ClusterFirst on a hostNetwork pod = Default)
  Default                 the node's own resolv.conf ("Default" is not the default!)
  None                    only what spec.dnsConfig says
dnsConfig (nameservers, searches, options) is merged on top, for every policy.
ndots:5 makes "myapp-service" and even "myapp-service.default" go through the search
list first, so short service names resolve; names with five dots are tried as they are.
"""

from __future__ import annotations

from minikube_py.network.dns.errors import DnsError

MAX_SEARCH = 32  # glibc limit since 2.26; kubelet warns beyond it


def parse(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, searches, options) of a resolv.conf."""
    ns, search, opts = [], [], []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if parts[0] == "nameserver" and len(parts) > 1:
            ns.append(parts[1])
        elif parts[0] in ("search", "domain"):
            search = parts[1:]
        elif parts[0] == "options":
            opts += parts[1:]
    return ns, search, opts


def render(pod: dict, cluster_dns: str = "10.96.0.10", domain: str = "cluster.local",
           host_resolv_conf: str = "") -> str:
    spec = pod.get("spec") or {}
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    policy = spec.get("dnsPolicy", "ClusterFirst")
    if policy not in ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"):
        raise DnsError(f"spec.dnsPolicy {policy!r} is not ClusterFirst, ClusterFirstWithHostNet,"
                       " Default or None")
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"
    host_ns, host_search, host_opts = parse(host_resolv_conf)
    if policy == "None":
        servers, search, opts = [], [], []
    elif policy == "Default":
        servers, search, opts = host_ns, host_search, host_opts
    else:
        servers = [cluster_dns]
        search = [f"{ns}.svc.{domain}", f"svc.{domain}", domain, *host_search]
        opts = ["ndots:5"]
    cfg = spec.get("dnsConfig") or {}
    servers = [*servers, *[s for s in cfg.get("nameservers") or [] if s not in servers]]
    search = [*search, *[s for s in cfg.get("searches") or [] if s not in search]]
    for o in cfg.get("options") or []:
        if "name" not in o:
            raise DnsError("spec.dnsConfig.options[]: name is required")
        opts = [x for x in opts if x.split(":")[0] != o["name"]]
        opts.append(f"{o['name']}:{o['value']}" if o.get("value") is not None else o["name"])
    if policy == "None" and not servers:
        raise DnsError("spec.dnsConfig.nameservers: dnsPolicy None needs at least one nameserver")
    lines = [f"nameserver {s}" for s in servers[:3]]  # the resolver reads at most three
    if search:
        lines.append("search " + " ".join(search[:MAX_SEARCH]))
    if opts:
        lines.append("options " + " ".join(opts))
    return "\n".join(lines) + "\n"
