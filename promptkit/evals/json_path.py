"""Dotted paths into parsed output: `sentiment`, `items[0].name`, `$` for the whole value."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MISSING", "lookup"]

MISSING = object()
"""What `lookup` returns when the path leads nowhere."""

_STEP = re.compile(r"\.?([A-Za-z_][\w-]*)|\[(\d+)\]")


def lookup(value: Any, path: str | None) -> Any:
    """The value at `path` (None or `$` is the value itself), or MISSING."""
    if path in (None, "", "$"):
        return value
    rest = path[2:] if path.startswith("$.") else path
    position = 0
    while position < len(rest):
        step = _STEP.match(rest, position)
        if step is None:
            raise ValueError(f"cannot read path {path!r} at {rest[position:]!r}")
        key, index = step.groups()
        value = _step(value, key, index)
        if value is MISSING:
            return MISSING
        position = step.end()
    return value


def _step(value: Any, key: str | None, index: str | None) -> Any:
    if key is not None:
        return value.get(key, MISSING) if isinstance(value, dict) else MISSING
    assert index is not None
    i = int(index)
    return value[i] if isinstance(value, list) and i < len(value) else MISSING
