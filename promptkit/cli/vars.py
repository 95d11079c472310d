"""Reading template variables from `--var k=v` options and `--vars FILE.json`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from promptkit.errors import UsageError
from promptkit.templates.inputs import variable_schema

__all__ = ["collect_variables"]


def collect_variables(pairs: tuple[str, ...], vars_file: Path | None,
                      inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Variables from a JSON file, then `k=v` pairs on top. A value is read as the prompt
    declares its input (`inputs`: name → declaration): a string stays a string (`true`
    too), an integer or number is parsed as one, a boolean is true/false, an array or an
    object is JSON. An undeclared variable is JSON when it parses, else a string."""
    values: dict[str, Any] = _read_file(vars_file) if vars_file else {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--var takes KEY=VALUE, got {pair!r}")
        values[key] = _typed(key, raw, _declared_type(inputs or {}, key))
    return values


def _declared_type(inputs: Mapping[str, Any], key: str) -> str | None:
    if key not in inputs:
        return None
    schema = variable_schema(inputs[key])
    kind = schema.get("type")
    return kind if isinstance(kind, str) else None


def _typed(key: str, raw: str, kind: str | None) -> Any:
    if kind == "string":
        return raw
    if kind in ("integer", "number", "boolean", "array", "object"):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        ok = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
              "boolean": lambda v: isinstance(v, bool), "array": lambda v: isinstance(v, list),
              "object": lambda v: isinstance(v, dict)}[kind]
        if not ok(value):
            raise UsageError(f"--var {key}={raw}: the prompt declares {key} as {kind}")
        return value
    return _value(raw)


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
