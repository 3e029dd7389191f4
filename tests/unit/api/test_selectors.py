"""Field selectors (label selectors are tested in tests/unit/k8s/test_selectors.py)."""

from __future__ import annotations

import pytest

from minikube_py.api.selectors import SelectorError, parse_field_selector


def test_field_selectors():
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running"},
    }
    assert parse_field_selector("spec.nodeName=n1,status.phase=Running", "pods").matches(pod)
    assert not parse_field_selector("spec.nodeName!=n1", "pods").matches(pod)
    assert parse_field_selector("metadata.name==p,metadata.namespace=ns", "pods").matches(pod)
    assert parse_field_selector("spec.nodeName=", "pods").matches({"metadata": {}, "spec": {}})
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.nodeName"):
        parse_field_selector("spec.nodeName=x", "configmaps")
    ev = {
        "metadata": {"name": "e"},
        "involvedObject": {"kind": "Pod", "name": "p"},
        "source": {"component": "k"},
    }
    assert parse_field_selector("involvedObject.kind=Pod,involvedObject.name=p,source=k", "events").matches(
        ev
    )
