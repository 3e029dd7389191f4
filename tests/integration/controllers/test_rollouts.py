"""Rollout strategies against the real API server, checked at every step of the stand-in kubelet."""

from __future__ import annotations

import pytest

from minikube_py.controllers import deployutil as du

from .conftest import wait_for
from .test_control_plane import deployment, drive, live_pods, rollout_done


@pytest.mark.parametrize(
    "replicas,surge,unavailable",
    [(3, 0, 1), (4, "25%", "25%"), (3, 2, 0)],
    ids=["surge0-unavail1", "25pct-25pct", "surge2-unavail0"],
)
def test_rolling_update_bounds_hold_at_every_step(cluster, replicas, surge, unavailable):
    c = cluster
    c.client.create(deployment(replicas=replicas, surge=surge, unavailable=unavailable))
    drive(c, lambda: rollout_done(c, replicas=replicas))
    d = c.client.get("deployments", "web", "default")
    min_ready = replicas - du.max_unavailable(d)
    max_total = replicas + du.max_surge(d)
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.37"
    c.client.update(d)

    def done():
        pods = live_pods(c)
        return (
            rollout_done(c, replicas=replicas)
            and len(pods) == replicas
            and {p["spec"]["containers"][0]["image"] for p in pods} == {"busybox:1.37"}
        )

    drive(c, done, min_ready=min_ready, max_total=max_total)


def test_recreate_never_runs_old_and_new_together(cluster):
    c = cluster
    body = deployment()
    body["spec"]["strategy"] = {"type": "Recreate"}
    c.client.create(body)
    drive(c, lambda: rollout_done(c))
    d = c.client.get("deployments", "web", "default")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.37"
    c.client.update(d)

    def done():
        images = {p["spec"]["containers"][0]["image"] for p in c.kubelet.pods()}
        assert len(images) <= 1, images   # terminating old pods count too: they still run
        return rollout_done(c) and images == {"busybox:1.37"}

    drive(c, done)


def test_progress_deadline_exceeded_when_pods_never_get_ready(cluster):
    c = cluster
    body = deployment(replicas=2)
    body["spec"]["progressDeadlineSeconds"] = 1
    c.client.create(body)

    def timed_out():
        st = c.client.get("deployments", "web", "default").get("status") or {}
        cond = du.get_condition(st, "Progressing")
        return cond if cond and cond["reason"] == "ProgressDeadlineExceeded" else None

    cond = wait_for(timed_out, timeout=15, what="ProgressDeadlineExceeded")
    assert cond["status"] == "False" and cond["message"].endswith("has timed out progressing.")
    wait_for(lambda: c.events("ProgressDeadlineExceeded"), what="the event")
