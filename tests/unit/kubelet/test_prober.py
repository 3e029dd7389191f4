from minikube_py.kubelet import podspec
from minikube_py.kubelet.prober import FAILURE, SUCCESS, ContainerInfo, ProbeManager


class Clock:
    t = 100.0

    def __call__(self):
        return self.t


class FakeExec:
    def __init__(self):
        self.results = {}          # argv[0] -> result
        self.calls = []

    def exec(self, cid, argv, timeout):
        self.calls.append(("exec", cid, argv[0]))
        return self.results.get(argv[0], SUCCESS), "out"

    def http_get(self, uid, host, port, path, scheme, headers, timeout):
        self.calls.append(("http", host, port, path))
        return self.results.get("http", SUCCESS), "HTTP probe failed with statuscode: 500"

    def tcp(self, uid, host, port, timeout):
        self.calls.append(("tcp", host, port))
        return self.results.get("tcp", SUCCESS), ""


def make(container):
    pod = podspec.parse_pod({"metadata": {"name": "p", "uid": "u"},
                             "spec": {"containers": [dict(name="c", image="i", **container)]}})
    clock, ex = Clock(), FakeExec()
    m = ProbeManager(ex, clock)
    m.add_pod(pod)
    return m, clock, ex


def test_liveness_failure_threshold_then_hold():
    m, clock, ex = make({"livenessProbe": {"exec": {"command": ["live"]}, "periodSeconds": 5,
                                           "failureThreshold": 3, "initialDelaySeconds": 10}})
    info = ContainerInfo("id1", True, started_at=clock.t)
    ex.results["live"] = FAILURE
    m.step("u", {"c": info})
    assert ex.calls == []                              # initial delay
    events = []
    for _ in range(3):
        clock.t += 10
        events += m.step("u", {"c": info})
    assert len(events) == 3 and all(e.kind == "Liveness" for e in events)
    assert m.must_restart("u", "c", info) == "Liveness"
    n = len(ex.calls)
    clock.t += 10
    m.step("u", {"c": info})
    assert len(ex.calls) == n                          # on hold until a new container id
    new = ContainerInfo("id2", True, started_at=clock.t)
    assert m.must_restart("u", "c", new) == ""


def test_readiness_flips_with_success_threshold():
    m, clock, ex = make({"readinessProbe": {"httpGet": {"port": 8080, "path": "/ready"},
                                            "periodSeconds": 1, "successThreshold": 2,
                                            "failureThreshold": 1}})
    info = ContainerInfo("id", True, started_at=clock.t)
    assert not m.ready("u", "c", info)                 # readiness starts as failure
    m.step("u", {"c": info}, pod_ip="10.0.0.7")
    assert ex.calls[0] == ("http", "10.0.0.7", 8080, "/ready")
    assert not m.ready("u", "c", info)                 # one success < successThreshold 2
    clock.t += 1
    m.step("u", {"c": info})
    assert m.ready("u", "c", info)
    ex.results["http"] = FAILURE
    clock.t += 1
    m.step("u", {"c": info})
    assert not m.ready("u", "c", info)
    assert m.must_restart("u", "c", info) == ""        # readiness never restarts


def test_startup_holds_liveness_and_readiness():
    m, clock, ex = make({"startupProbe": {"exec": {"command": ["start"]}, "periodSeconds": 1,
                                          "failureThreshold": 30},
                         "livenessProbe": {"exec": {"command": ["live"]}, "periodSeconds": 1},
                         "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1}})
    info = ContainerInfo("id", True, started_at=clock.t)
    ex.results["start"] = FAILURE
    for _ in range(3):
        m.step("u", {"c": info})
        clock.t += 1
    assert {c[0] for c in ex.calls} == {"exec"} and all(c[2] == "start" for c in ex.calls)
    assert not m.started("u", "c", info) and not m.ready("u", "c", info)
    ex.results["start"] = SUCCESS
    m.step("u", {"c": info})
    assert m.started("u", "c", info)
    clock.t += 1
    m.step("u", {"c": info})
    kinds = [c[2] if c[0] == "exec" else c[0] for c in ex.calls[-2:]]
    assert sorted(kinds) == ["live", "tcp"]
    assert m.ready("u", "c", info)


def test_named_port_and_no_probes():
    m, clock, ex = make({"ports": [{"name": "web", "containerPort": 3000}],
                         "livenessProbe": {"tcpSocket": {"port": "web"}}})
    info = ContainerInfo("id", True, started_at=clock.t)
    m.step("u", {"c": info}, pod_ip="10.0.0.2")
    assert ex.calls == [("tcp", "10.0.0.2", 3000)]
    m2, _, _ = make({})
    assert m2.ready("u", "c", info) and m2.started("u", "c", info)
    assert not m2.ready("u", "c", ContainerInfo("id", False))
