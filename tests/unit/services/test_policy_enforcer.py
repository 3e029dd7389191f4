"""The policy enforcer's loads against the strict in-memory iptables."""

from minikube_py.network.policy import PolicyEnforcer
from minikube_py.network.proxy import ClusterObjects
from minikube_py.network.proxy.source import SyncLoop

from .fake_iptables import FakeIptables


def pod(name, ip, labels):
    return {"metadata": {"name": name, "namespace": "default", "labels": labels}, "status": {"podIP": ip}}


def test_jump_is_inserted_once_first_and_stale_chains_go():
    objects, ipt = ClusterObjects(), FakeIptables()
    ipt.tables["filter"]["FORWARD"].append('-m comment --comment "kubernetes forwarding rules" -j ACCEPT')
    objects.apply("Pod", pod("a", "10.244.0.11", {"app": "a"}))
    objects.apply("Pod", pod("b", "10.244.0.12", {"app": "b"}))
    objects.apply("NetworkPolicy", {"metadata": {"name": "deny", "namespace": "default"},
                                    "spec": {"podSelector": {}}})
    enf = PolicyEnforcer(objects, None, iptables=ipt)
    enf.sync()
    enf.sync()
    forward = ipt.tables["filter"]["FORWARD"]
    assert forward[0].endswith("-j MKPY-NP-FORWARD") and sum("MKPY-NP-FORWARD" in r for r in forward) == 1
    assert len([c for c in ipt.tables["filter"] if c.startswith("MKPY-NP-I-")]) == 2
    objects.delete("Pod", "default", "b")
    enf.sync()
    assert len([c for c in ipt.tables["filter"] if c.startswith("MKPY-NP-I-")]) == 1
    enf.teardown()
    assert "MKPY" not in ipt.save("filter")
    assert len(ipt.tables["filter"]["FORWARD"]) == 1  # someone else's rule stays


def test_sync_loop_keeps_the_error_and_runs_again_on_the_next_change():
    import threading

    objects = ClusterObjects()
    calls, done = [], threading.Event()

    def work():
        calls.append(len(objects.list("Pod")))
        if len(calls) == 1:
            raise RuntimeError("first one fails")
        done.set()

    loop = SyncLoop(objects, ["Pod"], work, min_interval=0, retry_seconds=None).start()
    try:
        deadline = 50
        while loop.last_error is None and deadline:
            done.wait(0.1)
            deadline -= 1
        assert isinstance(loop.last_error, RuntimeError)
        objects.apply("Service", {"metadata": {"name": "s"}})  # not a kind it watches: no call
        objects.apply("Pod", pod("a", "10.244.0.11", {}))
        assert done.wait(5)
        assert calls[-1] == 1 and loop.last_error is None
    finally:
        loop.stop()
