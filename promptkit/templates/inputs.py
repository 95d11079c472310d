"""Declared inputs: each variable's JSON Schema, checked before anything renders, and
values written as text (a CSV cell, `--var k=v`) read as their input declares."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from promptkit.core.validation import schema_validator

__all__ = [
    "CONTENT_PART_SCHEMA", "IMAGE_SCHEMA", "MESSAGES_SCHEMA", "apply_defaults", "compile_inputs",
    "declared_types", "image_inputs", "input_errors", "value_from_text", "variable_schema",
]

_IMAGE_URL = {
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": {"type": "string", "pattern": "^(https?://|data:image/)"},
        "detail": {"enum": ["auto", "low", "high"]},
    },
    "additionalProperties": False,
}

CONTENT_PART_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"enum": ["text", "image_url"]}},
    "allOf": [
        {"if": {"properties": {"type": {"const": "text"}}},
         "then": {"required": ["text"], "properties": {"text": {"type": "string"}}}},
        {"if": {"properties": {"type": {"const": "image_url"}}},
         "then": {"required": ["image_url"], "properties": {"image_url": _IMAGE_URL}}},
    ],
}
"""One part of a message's content, in the chat form every provider adapter converts from:
`{"type": "text", "text": ...}` or `{"type": "image_url", "image_url": {"url": ...}}` (an
http(s) URL or a `data:image/...` URL)."""

MESSAGES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"enum": ["system", "user", "assistant", "tool"]},
            "content": {"type": ["string", "null", "array"], "items": CONTENT_PART_SCHEMA},
        },
    },
}
"""The schema of a conversation history: the `messages` shorthand type. A message's
content is text, or a list of content parts."""

IMAGE_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1}
"""The value of an `image` input: a file path, an http(s) URL or a data URL (read and
checked when the prompt renders, see `promptkit.templates.images`)."""

_SHORTHAND = {"string", "number", "integer", "boolean", "array", "object"}
_SPECIAL = {"messages": MESSAGES_SCHEMA, "image": IMAGE_SCHEMA}


def variable_schema(spec: Any) -> dict[str, Any]:
    """A variable's schema from its declaration: a JSON Schema, or a type name as shorthand;
    the types `messages` (a conversation history) and `image` may also be given as a
    mapping's `type`, beside keys such as `default`."""
    if isinstance(spec, str) and spec in _SPECIAL:
        return _SPECIAL[spec]
    if isinstance(spec, str) and spec in _SHORTHAND:
        return {"type": spec}
    if isinstance(spec, dict) and spec.get("type") in _SPECIAL:
        return {**_SPECIAL[spec["type"]], **{k: v for k, v in spec.items() if k != "type"}}
    if isinstance(spec, dict):
        return spec
    raise ValueError(
        f"must be a JSON Schema mapping or one of {', '.join(sorted(_SHORTHAND | set(_SPECIAL)))}"
    )


def image_inputs(inputs: Mapping[str, Any]) -> frozenset[str]:
    """The variables declared as `image` (the name alone, or `{type: image, ...}`)."""
    return frozenset(name for name, spec in inputs.items()
                     if spec == "image" or (isinstance(spec, dict) and spec.get("type") == "image"))


def compile_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """One object schema for all variables; a variable is optional only if it has a default."""
    properties = {name: variable_schema(spec) for name, spec in inputs.items()}
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(n for n, s in properties.items() if "default" not in s),
        "additionalProperties": False,
    }


def input_errors(schema: dict[str, Any], values: dict[str, Any]) -> list[tuple[str, str]]:
    """Every way `values` breaks the inputs schema, as (variable, message): missing,
    undeclared, then wrongly typed variables. Each variable is checked by the draft its own
    schema names, with `format` checked."""
    declared = schema["properties"]
    missing = [(n, f"missing variable {n!r}") for n in schema["required"] if n not in values]
    names = ", ".join(sorted(declared)) or "none"
    extra = [
        (n, f"undeclared variable {n!r} (declared: {names})")
        for n in sorted(set(values) - set(declared))
    ]
    wrong = [
        (name, f"variable {name!r}{_subpath(e.path)}: {e.message}")
        for name, value in values.items() if name in declared
        for e in schema_validator(declared[name]).iter_errors(value)
    ]
    return missing + extra + sorted(wrong)


def _subpath(path: Any) -> str:
    return "".join(f"[{p!r}]" for p in path)


def apply_defaults(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the declared default of every absent optional variable filled in."""
    filled = dict(values)
    for name, prop in schema["properties"].items():
        if name not in filled and "default" in prop:
            filled[name] = prop["default"]
    return filled


def declared_types(spec: Any) -> tuple[str, ...]:
    """The JSON types a declaration names (`type: [integer, "null"]` names two; none when
    it has no `type`)."""
    kind = variable_schema(spec).get("type")
    return tuple(kind) if isinstance(kind, list) else (kind,) if isinstance(kind, str) else ()


def value_from_text(text: str, spec: Any) -> Any:
    """A value written as text read as its input declares: an integer or a number parsed as
    one, a boolean from true/false, yes/no or 1/0 (any case), `null` or nothing as null, an
    array or an object as JSON. Text stays text when the input may be a string or names no
    type. Raises ValueError saying what the text is not."""
    types = declared_types(spec)
    if not types or "string" in types:
        return text
    for kind in types:
        value = _PARSERS[kind](text.strip()) if kind in _PARSERS else _NOT_READ
        if value is not _NOT_READ:
            return value
    names = " or ".join(("an " if t[0] in "aeiou" else "a ") + t for t in types)
    raise ValueError(f"{text!r} is not {names}")


_NOT_READ = object()


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_READ


def _integer(text: str) -> Any:
    value = _json(text)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else _NOT_READ


def _number(text: str) -> Any:
    value = _json(text)
    real = isinstance(value, int | float) and not isinstance(value, bool)
    return value if real and math.isfinite(value) else _NOT_READ


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}

_PARSERS = {
    "integer": _integer,
    "number": _number,
    "boolean": lambda text: _BOOLEANS.get(text.lower(), _NOT_READ),
    "null": lambda text: None if text in ("", "null") else _NOT_READ,
    "array": lambda text: v if isinstance(v := _json(text), list) else _NOT_READ,
    "object": lambda text: v if isinstance(v := _json(text), dict) else _NOT_READ,
}
"""How text becomes each JSON type (`_NOT_READ` when it cannot)."""
