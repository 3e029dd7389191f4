"""Kubernetes resource quantities ("100m", "128Mi", "1G", "1e3") as exact numbers.

Kubernetes keeps quantities exact (no floats): we use `Fraction`. `value()` and
`milli_value()` round *up*, like resource.Quantity.Value()/MilliValue() in Go,
so "1m" of memory is 1 byte and "0.5m" of CPU is 1 millicore.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

# Suffix -> multiplier. Only these spellings are valid (e.g. "K" is not, "k" and "Ki" are).
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}
_RE = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[a-zA-Z]*)$")


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse(text: str | int | float) -> Fraction:
    """Parse a quantity into an exact number of base units (bytes, cores)."""
    if isinstance(text, bool):
        raise QuantityError(f"quantities must match the regular expression: {text!r}")
    if isinstance(text, int):
        return Fraction(text)
    if isinstance(text, float):
        return Fraction(str(text))
    m = _RE.match(str(text).strip()) if isinstance(text, str) else None
    if not m:
        raise QuantityError(
            f"quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}")
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix[:1] in ("e", "E") and suffix[1:].lstrip("+-").isdigit():
        return number * Fraction(10) ** int(suffix[1:])
    raise QuantityError(f"unable to parse quantity's suffix: {text!r}")


def value(text: str | int | float) -> int:
    """Whole base units, rounded up (memory bytes)."""
    return math.ceil(parse(text))


def milli_value(text: str | int | float) -> int:
    """Thousandths of a unit, rounded up (CPU millicores)."""
    return math.ceil(parse(text) * 1000)


def format_cpu(milli: int) -> str:
    """Millicores as Kubernetes prints them: 2 -> "2m", 1000 -> "1"."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def format_bytes(n: int) -> str:
    """Bytes in the largest exact binary unit: 134217728 -> "128Mi"."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        if n and n % _BINARY[suffix] == 0:
            return f"{n // _BINARY[suffix]}{suffix}"
    return str(n)
