"""Declared inputs: each variable's JSON Schema, checked before anything renders."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

__all__ = ["MESSAGES_SCHEMA", "apply_defaults", "compile_inputs", "input_errors", "schema_problem"]

MESSAGES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"enum": ["system", "user", "assistant", "tool"]},
            "content": {"type": ["string", "null"]},
        },
    },
}
"""The schema of a conversation history: the `messages` shorthand type."""

_SHORTHAND = {"string", "number", "integer", "boolean", "array", "object"}


def variable_schema(spec: Any) -> dict[str, Any]:
    """A variable's schema from its declaration: a JSON Schema, or a type name as shorthand;
    the type `messages` (alone or with keys such as `default`) is a conversation history."""
    if spec == "messages":
        return MESSAGES_SCHEMA
    if isinstance(spec, str) and spec in _SHORTHAND:
        return {"type": spec}
    if isinstance(spec, dict) and spec.get("type") == "messages":
        return {**MESSAGES_SCHEMA, **{k: v for k, v in spec.items() if k != "type"}}
    if isinstance(spec, dict):
        return spec
    raise ValueError(
        f"must be a JSON Schema mapping or one of {', '.join(sorted(_SHORTHAND | {'messages'}))}"
    )


def compile_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """One object schema for all variables; a variable is optional only if it has a default."""
    properties = {name: variable_schema(spec) for name, spec in inputs.items()}
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(n for n, s in properties.items() if "default" not in s),
        "additionalProperties": False,
    }


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a valid JSON Schema (2020-12), or None when it is."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.path)
        return f"{exc.message}" + (f" (at {path})" if path else "")
    return None


def input_errors(schema: dict[str, Any], values: dict[str, Any]) -> list[tuple[str, str]]:
    """Every way `values` breaks the inputs schema, as (variable, message): missing,
    undeclared, then wrongly typed variables."""
    declared = schema["properties"]
    missing = [(n, f"missing variable {n!r}") for n in schema["required"] if n not in values]
    names = ", ".join(sorted(declared)) or "none"
    extra = [
        (n, f"undeclared variable {n!r} (declared: {names})")
        for n in sorted(set(values) - set(declared))
    ]
    known = {k: v for k, v in values.items() if k in declared}
    wrong = [
        (str(e.path[0]), f"variable {e.path[0]!r}{_subpath(e.path)}: {e.message}")
        for e in Draft202012Validator(schema).iter_errors(known)
        if e.path
    ]
    return missing + extra + sorted(wrong)


def _subpath(path: Any) -> str:
    return "".join(f"[{p!r}]" for p in list(path)[1:])


def apply_defaults(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the declared default of every absent optional variable filled in."""
    filled = dict(values)
    for name, prop in schema["properties"].items():
        if name not in filled and "default" in prop:
            filled[name] = prop["default"]
    return filled
