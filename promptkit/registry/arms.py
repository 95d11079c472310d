"""Which arm of a canary a request gets: a hash of a key the application passes (a user,
session or request id), so the same key gets the same arm in every process, every time.
Kept apart from the canaries' storage: the resolver's hot path imports only this."""

from __future__ import annotations

import hashlib
import random

__all__ = ["arm_of"]

_BUCKETS = 10_000


def arm_of(name: str, env: str, key: str | None, percent: float) -> str:
    """`canary` or `stable` for a request with `key` (None: a fresh draw per request). The
    bucket depends only on the key, so raising the share keeps every key already in the
    canary there."""
    if key is None:
        bucket = random.randrange(_BUCKETS)
    else:
        digest = hashlib.blake2b(f"{name}\0{env}\0{key}".encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest, "big") % _BUCKETS
    return "canary" if bucket < percent * _BUCKETS / 100 else "stable"
