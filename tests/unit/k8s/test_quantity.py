"""Resource quantities (merged from the api, kubelet and scheduler unit tests)."""

from decimal import Decimal
from fractions import Fraction

import pytest

from minikube_py.k8s import quantity
from minikube_py.k8s.quantity import QuantityError


@pytest.mark.parametrize("text,expected", [
    ("100m", Fraction(1, 10)), ("1", 1), ("128Mi", 128 * 2**20), ("1G", 10**9), ("1e3", 1000),
    ("1.5Gi", 3 * 2**29), ("0.5", Fraction(1, 2)), ("2k", 2000), ("1E2", 100), (".5", Fraction(1, 2)),
    (3, 3), ("500n", Fraction(5, 10**7)),
])
def test_parse(text, expected):
    assert quantity.parse(text) == expected


@pytest.mark.parametrize(
    "text,value",
    [("100m", "0.1"), ("1", "1"), ("128Mi", str(128 * 2**20)), ("1G", "1E+9"), ("1.5", "1.5"),
     ("2Ki", "2048")],
)
def test_parse_equals_decimal(text, value):
    assert quantity.parse(text) == Decimal(value)


@pytest.mark.parametrize(
    "text,want",
    [("100m", "0.1"), ("1", "1"), ("1Gi", str(2**30)), ("1e3", "1000"), ("500k", "500000"), ("0.5", "0.5")],
)
def test_spellings_agree(text, want):
    assert quantity.parse(text) == quantity.parse(want)


@pytest.mark.parametrize("bad", ["1K", "abc", "", "1.2.3", "Mi", "1 Mi", "--1", "12 apples", "1e3Mi", True])
def test_parse_rejects(bad):
    with pytest.raises(QuantityError):
        quantity.parse(bad)


def test_error_names_the_field_and_keeps_the_apiserver_reason():
    want = r"^resources.limits\[cpu\]: quantities must match .*: '12 GB'$"
    with pytest.raises(QuantityError, match=want) as info:
        quantity.parse("12 GB", "resources.limits[cpu]")
    assert info.value.reason == quantity.FORMAT_REASON


def test_value_rounds_up():
    assert quantity.milli_value("0.5m") == 1
    assert quantity.milli_value("1.5") == 1500
    assert quantity.value("1m") == 1
    assert quantity.format_bytes(128 * 2**20) == "128Mi"
    assert quantity.format_cpu(250) == "250m" and quantity.format_cpu(2000) == "2"
