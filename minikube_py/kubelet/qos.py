"""Resources and QoS: QoS class, oom_score_adj, OCI linux.resources, the cgroup hierarchy.

All as kubelet computes them:
  QoS (pkg/apis/core/v1/helper/qos): only cpu and memory count; no requests or limits
    anywhere -> BestEffort; every container has cpu *and* memory limits and the summed
    requests equal the summed limits -> Guaranteed; otherwise Burstable.
  oom_score_adj (pkg/kubelet/qos/policy.go): Guaranteed -997, BestEffort 1000, Burstable
    1000 - 1000*memoryRequest/memoryCapacity, kept within [3, 999] (3 = 1000 + -997, so a
    Burstable container never outranks a Guaranteed one; 999 so it beats BestEffort).
  cpu shares = millicores*1024/1000 (min 2, max 262144) from requests (the limit if no
    request); CFS quota = millicores*period/1000 (min 1000) with period 100000 from limits.
"""

from __future__ import annotations

from typing import Any

from minikube_py.k8s import quantity
from minikube_py.k8s.pod import BEST_EFFORT, BURSTABLE, GUARANTEED, qos_class

GUARANTEED_OOM_SCORE_ADJ = -997
BEST_EFFORT_OOM_SCORE_ADJ = 1000
POD_INFRA_OOM_SCORE_ADJ = -998
MIN_SHARES, MAX_SHARES, SHARES_PER_CPU = 2, 262144, 1024
QUOTA_PERIOD, MIN_QUOTA = 100000, 1000
SYSTEM_NODE_CRITICAL = "system-node-critical"


def is_node_critical(pod: dict) -> bool:
    return (pod.get("spec") or {}).get("priorityClassName") == SYSTEM_NODE_CRITICAL


def oom_score_adj(pod: dict, container: dict, memory_capacity: int) -> int:
    if is_node_critical(pod):
        return GUARANTEED_OOM_SCORE_ADJ
    klass = qos_class(pod.get("spec") or {})
    if klass == GUARANTEED:
        return GUARANTEED_OOM_SCORE_ADJ
    if klass == BEST_EFFORT:
        return BEST_EFFORT_OOM_SCORE_ADJ
    request = quantity.value(((container.get("resources") or {}).get("requests") or {}).get("memory", 0))
    # Go's integer division truncates toward zero; request and capacity are non-negative here.
    adj = 1000 - (1000 * request) // memory_capacity
    if adj < 1000 + GUARANTEED_OOM_SCORE_ADJ:
        return 1000 + GUARANTEED_OOM_SCORE_ADJ
    if adj == BEST_EFFORT_OOM_SCORE_ADJ:
        return adj - 1
    return adj


def milli_cpu_to_shares(milli: int) -> int:
    if milli == 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, milli * SHARES_PER_CPU // 1000))


def milli_cpu_to_quota(milli: int, period: int = QUOTA_PERIOD) -> int:
    if milli == 0:
        return 0
    return max(MIN_QUOTA, milli * period // 1000)


def _get(container: dict, kind: str, name: str) -> str | None:
    return ((container.get("resources") or {}).get(kind) or {}).get(name)


def container_resources(container: dict) -> dict:
    """OCI `linux.resources` for one container (kuberuntime's calculateLinuxResources)."""
    req_cpu = quantity.milli_value(_get(container, "requests", "cpu") or 0)
    lim_cpu = quantity.milli_value(_get(container, "limits", "cpu") or 0)
    shares = milli_cpu_to_shares(lim_cpu if req_cpu == 0 and lim_cpu else req_cpu)
    cpu: dict = {"shares": shares}
    if lim_cpu:
        cpu["quota"] = milli_cpu_to_quota(lim_cpu)
        cpu["period"] = QUOTA_PERIOD
    out: dict = {"cpu": cpu}
    mem = _get(container, "limits", "memory")
    if mem is not None and quantity.value(mem) > 0:
        out["memory"] = {"limit": quantity.value(mem)}
    return out


def pod_resources(pod: dict, pids_limit: int | None = None) -> dict:
    """OCI-style resources for the pod-level cgroup: summed requests as shares; quota and memory
    limit only if *every* app container sets that limit (else the pod is unbounded there)."""
    spec = pod.get("spec") or {}
    apps = spec.get("containers") or []
    inits = spec.get("initContainers") or []

    def effective(kind: str, name: str, unit) -> tuple[int, bool]:
        # An init container runs alone, so the pod needs max(largest init, sum of apps).
        vals = [unit(_get(c, kind, name) or 0) for c in apps]
        all_set = all(_get(c, kind, name) is not None for c in apps)
        init_max = max((unit(_get(c, kind, name) or 0) for c in inits), default=0)
        return max(sum(vals), init_max), all_set

    req_cpu, _ = effective("requests", "cpu", quantity.milli_value)
    lim_cpu, all_cpu = effective("limits", "cpu", quantity.milli_value)
    lim_mem, all_mem = effective("limits", "memory", quantity.value)
    cpu: dict = {"shares": milli_cpu_to_shares(req_cpu)}
    if all_cpu and lim_cpu:
        cpu["quota"] = milli_cpu_to_quota(lim_cpu)
        cpu["period"] = QUOTA_PERIOD
    out: dict = {"cpu": cpu}
    if all_mem and lim_mem:
        out["memory"] = {"limit": lim_mem}
    if pids_limit:
        out["pids"] = {"limit": pids_limit}
    return out


def pod_cgroup_parent(pod: dict) -> str:
    """kubepods/pod<uid> (Guaranteed), kubepods/burstable/pod<uid>, kubepods/besteffort/pod<uid>."""
    uid = (pod.get("metadata") or {}).get("uid", "")
    klass = qos_class(pod.get("spec") or {})
    tier = {GUARANTEED: "", BURSTABLE: "burstable/", BEST_EFFORT: "besteffort/"}[klass]
    return f"kubepods/{tier}pod{uid}"


def container_cgroup_path(pod: dict, container_id: str) -> str:
    return f"{pod_cgroup_parent(pod)}/{container_id}"


def cgroup_stats(path: str) -> dict[str, Any]:
    """A pod's or container's cgroup figures (memory_usage, cpu_usage_ns, pids_current, ...);
    empty when the cgroup is gone (a pod going away while we look)."""
    from minikube_py.runtime.cgroups import open_cgroup

    try:
        cg = open_cgroup(path)
        return cg.stats() if cg.exists() else {}
    except Exception:  # noqa: BLE001 - racing with the pod's removal
        return {}
