"""Label selectors: string form, structured form, plain maps and node requirements
(merged from the api, services and scheduler unit tests)."""

from __future__ import annotations

import pytest

from minikube_py.k8s.selectors import (
    SelectorError,
    from_label_selector,
    map_selector_matches,
    node_requirement_matches,
    parse_label_selector,
    selector_matches,
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


def test_structured_selector_matches():
    def expr(key, op, *values):
        return {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}

    assert selector_matches({}, {"a": "1"})
    assert selector_matches(expr("a", "In", "1", "2"), {"a": "2"})
    assert not selector_matches(expr("a", "NotIn", "1"), {"a": "1"})
    assert selector_matches(expr("b", "DoesNotExist"), {"a": "1"})
    assert not selector_matches({"matchLabels": {"a": "1"}, **expr("b", "Exists")}, {"a": "1"})


def test_empty_selector_can_match_nothing():
    assert selector_matches({}, {"a": "1"}) and selector_matches(None, {})
    assert not selector_matches({}, {"a": "1"}, empty_matches_all=False)
    assert not selector_matches({"matchLabels": {}}, {"a": "1"}, empty_matches_all=False)


def test_bad_expressions_name_the_field():
    with pytest.raises(SelectorError, match=r"spec\.podSelector\.matchExpressions\[1\]\.operator 'Near'"):
        selector_matches(
            {"matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "a", "operator": "Near"}]},
            {"a": "1"},
            where="spec.podSelector",
        )
    with pytest.raises(SelectorError, match=r"^selector\.matchExpressions\[0\]\.key is required$"):
        from_label_selector({"matchExpressions": [{"operator": "Exists"}]})


def test_map_selector_matches_nothing_when_empty():
    assert map_selector_matches({"app": "web"}, {"app": "web", "x": "y"})
    assert not map_selector_matches({"app": "web"}, {"app": "db"})
    assert not map_selector_matches({}, {"app": "web"}) and not map_selector_matches(None, {})


@pytest.mark.parametrize("req,expected", [
    ({"key": "zone", "operator": "In", "values": ["a", "b"]}, True),
    ({"key": "zone", "operator": "NotIn", "values": ["a"]}, False),
    ({"key": "cpus", "operator": "Gt", "values": ["4"]}, True),
    ({"key": "cpus", "operator": "Lt", "values": ["4"]}, False),
    ({"key": "cpus", "operator": "Gt", "values": ["4", "5"]}, False),
    ({"key": "zone", "operator": "Gt", "values": ["1"]}, False),
    ({"key": "gpu", "operator": "DoesNotExist"}, True),
    ({"key": "zone", "operator": "Near", "values": ["a"]}, False),
])
def test_node_requirements(req, expected):
    assert node_requirement_matches(req, {"zone": "a", "cpus": "8"}) is expected
