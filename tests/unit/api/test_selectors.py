from __future__ import annotations

import pytest

from minikube_py.api.selectors import (
    SelectorError,
    from_label_selector,
    parse_field_selector,
    parse_label_selector,
    selector_string,
)

LABELS = {"app": "web", "env": "prod", "tier": "front", "version": "3"}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app=web,env=dev", False),
        ("env in (dev, prod)", True),
        ("env notin (prod)", False),
        ("missing notin (x)", True),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("app=web, env in (prod), !canary", True),
        ("version gt 2", True),
        ("version lt 2", False),
        ("app.kubernetes.io/name=x", False),
    ],
)
def test_label_selector_matches(text, expected):
    assert parse_label_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize("bad", ["app in (", "app in ()", "=web", "a b", "app=we b", "-bad-=x", "app in x"])
def test_label_selector_errors_name_the_problem(bad):
    with pytest.raises(SelectorError):
        parse_label_selector(bad)


def test_structured_selector_round_trip():
    sel = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    parsed = from_label_selector(sel)
    assert parsed.matches(LABELS)
    assert not parsed.matches({**LABELS, "canary": "1"})
    assert selector_string(sel) == "app=web,env in (prod,dev),!canary"
    assert parse_label_selector(selector_string(sel)).matches(LABELS)
    assert from_label_selector({}).matches({"anything": "x"})
    with pytest.raises(SelectorError):
        from_label_selector({"matchExpressions": [{"key": "a", "operator": "Near"}]})


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
