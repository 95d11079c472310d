"""Reading template variables from `--var k=v` options and `--vars FILE.json`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from promptkit.errors import UsageError
from promptkit.templates.inputs import declared_types, value_from_text

__all__ = ["collect_variables"]


def collect_variables(pairs: tuple[str, ...], vars_file: Path | None,
                      inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Variables from a JSON file, then `k=v` pairs on top. A value is read as the prompt
    declares its input (`inputs`: name → declaration, see `value_from_text`): a string stays
    a string (`true` too), an integer is parsed as one, and so on. A variable undeclared or
    declared without a type is JSON when it parses, else a string."""
    declared = inputs or {}
    values: dict[str, Any] = _read_file(vars_file) if vars_file else {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--var takes KEY=VALUE, got {pair!r}")
        typed = key in declared and declared_types(declared[key])
        values[key] = _typed(key, raw, declared[key]) if typed else _value(raw)
    return values


def _typed(key: str, raw: str, spec: Any) -> Any:
    try:
        return value_from_text(raw, spec)
    except ValueError:
        kinds = " or ".join(declared_types(spec))
        raise UsageError(f"--var {key}={raw}: the prompt declares {key} as {kinds}") from None


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
