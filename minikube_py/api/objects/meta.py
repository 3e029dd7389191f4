"""Metadata helpers: timestamps, uids, generated names."""

from __future__ import annotations

import datetime as dt
import random
import uuid


def now() -> str:
    """RFC 3339 to the second in UTC, the form Kubernetes writes (`2024-05-01T10:00:00Z`)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def later(seconds: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value.replace(".000000", "")[:19] + "Z", "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.UTC
    )


def new_uid() -> str:
    return str(uuid.uuid4())


# The alphabet of apimachinery's rand.String: no vowels (no words), no 0/1/3 (no look-alikes).
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"


def generate_name(base: str) -> str:
    return base[:58] + "".join(random.choice(_ALNUM) for _ in range(5))
