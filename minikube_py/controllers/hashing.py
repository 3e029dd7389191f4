"""pod-template-hash: the name suffix that ties a ReplicaSet to one version of a pod template.

Kubernetes (controller.ComputeHash): FNV-1a 32-bit over a dump of the template, then, if
the Deployment has seen hash collisions, the collision count as 8 little-endian bytes;
the decimal digits of the 32-bit sum are mapped one by one into a 27-letter alphabet with
no vowels (rand.SafeEncodeString), so `1234567890` becomes `7c5ddbdf98`-like text.
Go dumps the struct with go-spew; we dump the JSON with sorted keys instead, so our hashes
have the same shape and properties but not the same values as a real cluster's.
"""

from __future__ import annotations

import json
import struct
from typing import Any

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193
HASH_LABEL = "pod-template-hash"


def fnv1a_32(data: bytes, h: int = FNV32_OFFSET) -> int:
    for byte in data:
        h ^= byte
        h = (h * FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in s)


def compute_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    dump = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    h = fnv1a_32(dump)
    if collision_count is not None:
        h = fnv1a_32(struct.pack("<Q", collision_count & 0xFFFFFFFF), h)
    return safe_encode(str(h))
