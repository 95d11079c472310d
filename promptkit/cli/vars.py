"""Reading template variables from `--var k=v` options and `--vars FILE.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptkit.errors import UsageError

__all__ = ["collect_variables"]


def collect_variables(pairs: tuple[str, ...], vars_file: Path | None) -> dict[str, Any]:
    """Variables from a JSON file, then `k=v` pairs on top. A value that parses as JSON
    (a number, a list, an object) is taken as JSON; anything else is a string."""
    values: dict[str, Any] = _read_file(vars_file) if vars_file else {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--var takes KEY=VALUE, got {pair!r}")
        values[key] = _value(raw)
    return values


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"--vars {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"--vars {path}: expected a JSON object of variables")
    return data


def _value(raw: str) -> Any:
    if raw[:1] in "[{" or raw in ("true", "false", "null"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw
