import pytest

from minikube_py.kubelet import backoff, podspec, pullpolicy, qos, restart
from minikube_py.kubelet.restart import LastRun

GI = 2**30


def pod(*containers, init=(), uid="u1"):
    return podspec.parse_pod({"metadata": {"name": "p", "uid": uid}, "spec": {
        "containers": [{"name": f"c{i}", "image": "busybox:1", "resources": r}
                       for i, r in enumerate(containers)],
        "initContainers": [{"name": f"i{i}", "image": "busybox:1", "resources": r}
                           for i, r in enumerate(init)]}})


G = {"limits": {"cpu": "1", "memory": "1Gi"}}


@pytest.mark.parametrize("p,klass", [
    (pod({}), "BestEffort"),
    (pod({}, {}), "BestEffort"),
    (pod(G), "Guaranteed"),
    (pod(G, G), "Guaranteed"),
    (pod({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}), "Burstable"),
    (pod(G, {}), "Burstable"),
    (pod({"limits": {"cpu": "1"}}), "Burstable"),
    (pod({"requests": {"memory": "10Mi"}}), "Burstable"),
    (pod({"requests": {"ephemeral-storage": "1Gi"}}), "BestEffort"),     # only cpu/memory count
    (pod({"requests": {"cpu": "0"}}), "BestEffort"),                      # zero is no request
    (pod(G, init=[{"requests": {"cpu": "100m"}}]), "Burstable"),          # init containers count
])
def test_qos_class(p, klass):
    assert qos.qos_class(p) == klass


def test_oom_score_adj():
    assert qos.oom_score_adj(pod(G), {}, GI) == -997
    assert qos.oom_score_adj(pod({}), {}, GI) == 1000
    b = pod({"requests": {"memory": "256Mi"}})
    assert qos.oom_score_adj(b, b["spec"]["containers"][0], GI) == 750
    big = pod({"requests": {"memory": "1Gi"}})
    assert qos.oom_score_adj(big, big["spec"]["containers"][0], GI) == 3          # floor 1000 + -997
    tiny = pod({"requests": {"cpu": "100m"}})
    assert qos.oom_score_adj(tiny, tiny["spec"]["containers"][0], GI) == 999       # never 1000
    small = pod({"requests": {"memory": "10Mi"}})
    assert qos.oom_score_adj(small, small["spec"]["containers"][0], GI) == 991   # 1000 - floor(9.77)


def test_container_resources():
    assert qos.container_resources({}) == {"cpu": {"shares": 2}}
    c = {"resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}}
    assert qos.container_resources(c) == {"cpu": {"shares": 256, "quota": 50000, "period": 100000},
                                          "memory": {"limit": 64 * 2**20}}
    assert qos.container_resources({"resources": {"limits": {"cpu": "1m"}}})["cpu"] == \
        {"shares": 2, "quota": 1000, "period": 100000}     # min shares 2, min quota 1000
    assert qos.milli_cpu_to_shares(10**6) == 262144


def test_pod_resources_and_cgroup_paths():
    b = pod({"requests": {"cpu": "100m"}, "limits": {"cpu": "200m", "memory": "32Mi"}},
            {"requests": {"cpu": "300m"}})
    r = qos.pod_resources(b, pids_limit=100)
    assert r["cpu"] == {"shares": 409}             # quota only when every container has a limit
    assert "memory" not in r and r["pids"] == {"limit": 100}
    assert qos.pod_resources(pod(G, G))["memory"] == {"limit": 2 * GI}
    assert qos.container_cgroup_path(b, "cid") == "kubepods/burstable/podu1/cid"
    assert qos.pod_cgroup_parent(pod(G)) == "kubepods/podu1"
    assert qos.pod_cgroup_parent(pod({})) == "kubepods/besteffort/podu1"


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_crashloop_backoff_sequence():
    """Crash, restart at once, then 10, 20, 40, ... capped at 300 s between restarts."""
    clock = Clock()
    b = backoff.Backoff(clock=clock)
    key = "u1/c"
    waits = []
    for _ in range(8):
        crashed_at = clock.t                      # the container exits immediately after each start
        waited = 0
        while b.in_backoff_since(key, crashed_at):
            clock.t += 1
            waited += 1
        waits.append(waited)
        b.next(key, crashed_at)
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300]


def test_backoff_resets_after_ten_minutes_of_running():
    clock = Clock()
    b = backoff.Backoff(clock=clock)
    for _ in range(5):
        b.next("k", clock.t)
    assert b.get("k") == 160
    clock.t += 601                                # ran cleanly for 10 minutes, then crashed
    assert not b.in_backoff_since("k", clock.t)
    b.next("k", clock.t)
    assert b.get("k") == 10
    clock.t += 599
    b.next("k", clock.t)
    assert b.get("k") == 20                       # under 10 minutes: keeps doubling


def test_image_pull_backoff():
    clock = Clock()
    b = backoff.Backoff(clock=clock)
    b.next("u_img", clock.t)                      # first pull failed
    assert b.in_backoff_since_update("u_img")
    clock.t += 10
    assert not b.in_backoff_since_update("u_img")
    b.next("u_img", clock.t)
    clock.t += 19
    assert b.in_backoff_since_update("u_img")
    assert backoff.format_duration(300) == "5m0s" and backoff.format_duration(20) == "20s"
    b2 = backoff.Backoff(clock=clock)
    b2.load(b.to_dict())
    assert b2.get("u_img") == 20


@pytest.mark.parametrize("policy,last,expected", [
    ("Never", None, True), ("Always", LastRun("running"), False), ("Never", LastRun("created"), True),
    ("Always", LastRun("exited", 0), True), ("OnFailure", LastRun("exited", 0), False),
    ("OnFailure", LastRun("exited", 1), True), ("Never", LastRun("exited", 1), False),
])
def test_should_restart(policy, last, expected):
    assert restart.should_restart(policy, last) is expected
    assert restart.should_restart(policy, last, deleting=True) is False


def test_pull_decisions():
    assert pullpolicy.decide("Always", "x", True).pull
    assert not pullpolicy.decide("IfNotPresent", "x", True).pull
    assert pullpolicy.decide("IfNotPresent", "x", False).pull
    d = pullpolicy.decide("Never", "x", False)
    assert not d.pull and d.error_reason == "ErrImageNeverPull"
    assert pullpolicy.normalize_ref("busybox") == "busybox:latest"
    assert pullpolicy.normalize_ref("reg:5000/busybox") == "reg:5000/busybox:latest"
