"""What a prompt file may cost: its size, its front matter's shape, and what rendering it may
build. A file of a few hundred bytes must not take a machine down (a string repeated 10⁸
times, YAML aliases that expand without end, a loop over two large ranges, nesting that
overflows the stack), so every limit is checked before the cost is paid, and a breach is
a one-line error naming the limit and the environment variable that sets it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["LIMITS", "Limits", "limit_message"]


@dataclass(frozen=True)
class Limits:
    """Defaults generous for any real prompt; each settable by `PROMPTKIT_<NAME>`."""

    max_file_bytes: int = 1_048_576
    """A prompt file's size (1 MiB)."""
    max_yaml_depth: int = 32
    """Nesting of the front matter's (or a suite's) mappings and lists."""
    max_yaml_nodes: int = 100_000
    """Nodes of a YAML document with its aliases expanded (the 'billion laughs')."""
    max_template_depth: int = 64
    """Nesting of the template's blocks and expressions."""
    max_render_chars: int = 1_000_000
    """Characters one render may produce, and the size of any string or list it builds."""
    max_range_items: int = 100_000
    """Items all `range()` calls of one render may yield together (nested loops multiply)."""
    max_render_seconds: float = 2.0
    """CPU time one render may take (its thread's: waiting is not counted)."""
    max_image_bytes: int = 20_971_520
    """An image input's size (20 MiB, OpenAI's limit for one image), checked before the
    file is read or a data URL decoded."""

    @classmethod
    def from_env(cls) -> Limits:
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"PROMPTKIT_{f.name.upper()}")
            if raw:
                values[f.name] = float(raw) if f.type in ("float", float) else int(raw)
        return cls(**values)


LIMITS = Limits.from_env()
"""The limits in force (read once, at import)."""


def limit_message(what: str, name: str) -> str:
    """`the output exceeds 1,000,000 characters (limit max_render_chars, set
    PROMPTKIT_MAX_RENDER_CHARS to change it)`."""
    value = getattr(LIMITS, name)
    shown = f"{value:,}" if isinstance(value, int) else f"{value:g}"
    return f"{what} {shown} (limit {name}; set PROMPTKIT_{name.upper()} to change it)"
