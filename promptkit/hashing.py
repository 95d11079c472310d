"""Canonical JSON and content hashes: the one way promptkit names content exactly."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "content_hash"]

HASH_ALGORITHM = "sha256"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: equal data, equal text."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def content_hash(value: Any) -> str:
    """`sha256:<hex>` of text, bytes, or any JSON-able value (hashed in canonical form)."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        data = canonical_json(value).encode("utf-8")
    return f"{HASH_ALGORITHM}:{hashlib.new(HASH_ALGORITHM, data).hexdigest()}"
