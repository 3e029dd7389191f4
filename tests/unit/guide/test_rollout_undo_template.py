"""What real kubectl sends for `rollout undo` must lead the controller back to the old ReplicaSet."""

from __future__ import annotations

import copy

from minikube_py.api.objects.defaulting import apply_defaults
from minikube_py.controllers import deployutil as du


def _deployment(template: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template},
    }


def test_undo_template_with_null_creation_timestamp_matches_the_old_replicaset():
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
    }
    original = _deployment(copy.deepcopy(template))
    apply_defaults("deployments", original)
    old_rs = {
        "metadata": {"name": "web-1"},
        "spec": {"template": copy.deepcopy(original["spec"]["template"])},
    }
    old_rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = "1"

    # kubectl's JSON patch puts the old ReplicaSet's template back, as Go serializes it:
    # the zero creationTimestamp is `null`.
    undone = copy.deepcopy(old_rs["spec"]["template"])
    del undone["metadata"]["labels"]["pod-template-hash"]
    undone["metadata"]["creationTimestamp"] = None
    after = _deployment(undone)
    apply_defaults("deployments", after)

    assert "creationTimestamp" not in after["spec"]["template"]["metadata"]
    assert du.find_new_rs(after, [old_rs]) is old_rs
