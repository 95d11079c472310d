"""Validating outputs against their JSON Schema, and the re-ask that feeds the errors back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jsonschema import exceptions as schema_exceptions
from jsonschema import validators

from promptkit.core.formats import format_checker
from promptkit.core.structured import Extracted, OutputPlan
from promptkit.core.types import Message
from promptkit.errors import UsageError
from promptkit.hashing import canonical_json
from promptkit.memo import ValueMemo

__all__ = [
    "check_schema", "json_path", "reask_messages", "schema_problem", "schema_validator", "validate",
]

MAX_ERRORS = 20
MAX_MESSAGE = 300


def check_schema(schema: dict[str, Any], what: str = "the output schema") -> None:
    """Refuse a schema that is not itself valid JSON Schema, before any call is made."""
    problem = schema_problem(schema)
    if problem is not None:
        raise UsageError(f"{what} is not valid JSON Schema: {problem}")


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a valid JSON Schema of the draft it names, or None when it is."""
    try:
        schema_validator(schema)
    except schema_exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return exc.message + (f" (at {where})" if where else "")
    except (TypeError, ValueError) as exc:  # a YAML date or a NaN: not JSON data
        return f"not JSON data: {exc}"
    return None


def schema_validator(schema: Any) -> Any:
    """The one way promptkit checks a value against a JSON Schema (prompt inputs, outputs,
    the `schema` assertion): the validator of the draft the schema's `$schema` names
    (2020-12 when it names none), with `format` checked, not only annotated. Raises
    `jsonschema.SchemaError` when the schema is itself invalid."""
    return _validators(schema)


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Any:
    """One validator per distinct schema, by its canonical text."""
    schema = json.loads(schema_text)
    cls = _draft(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=format_checker(cls))


_validators: ValueMemo[Any] = ValueMemo(lambda schema: _validator(canonical_json(schema)))
"""The validator of a schema object seen before, found without serialising it again."""


def _draft(schema: Any) -> Any:
    """The validator class of the draft `schema` names; an unknown `$schema` is an error
    rather than a silent fall back to another draft."""
    if not isinstance(schema, dict) or "$schema" not in schema:
        return validators.Draft202012Validator
    cls = validators.validator_for(schema, default=None)
    if cls is None:
        raise schema_exceptions.SchemaError(
            f"unknown $schema {schema['$schema']!r}: name a JSON Schema draft "
            "(draft-04, -06, -07, 2019-09 or 2020-12)")
    return cls


def validate(value: Any, schema: dict[str, Any]) -> list[str]:
    """Every way `value` breaks `schema`, as `path: message` lines (empty when valid)."""
    errors = sorted(schema_validator(schema).iter_errors(value),
                    key=lambda e: [str(p) for p in e.absolute_path])
    return [_line(e) for e in errors[:MAX_ERRORS]]


def _line(error: schema_exceptions.ValidationError) -> str:
    message = error.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return f"{json_path(error.absolute_path)}: {message}"


def json_path(parts: Iterable[Any]) -> str:
    """`$.items[0].name` for the path elements ["items", 0, "name"]."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def reask_messages(plan: OutputPlan, got: Extracted, errors: list[str]) -> list[Message]:
    """The assistant's output and a message with the errors, asking for a corrected answer."""
    listing = "\n".join(f"- {e}" for e in errors)
    if plan.technique == "tool" and got.tool_call_id is not None:
        call = {
            "id": got.tool_call_id,
            "type": "function",
            "function": {"name": plan.tool_name, "arguments": got.raw or ""},
        }
        text = (
            f"The arguments did not match the function's JSON Schema:\n{listing}\n"
            f"Call `{plan.tool_name}` again with corrected arguments."
        )
        return [
            # "" rather than None: llama.cpp's server refuses a null content (HTTP 500);
            # OpenAI and the other endpoints take an empty string alike.
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": got.tool_call_id, "content": text},
        ]
    if plan.technique == "tool":
        ask = f"Call the function `{plan.tool_name}` with arguments matching its JSON Schema."
    else:
        ask = "Reply with only the corrected JSON, and no other text."
    text = f"Your previous answer did not match the required JSON Schema:\n{listing}\n{ask}"
    return [{"role": "assistant", "content": got.raw or ""}, {"role": "user", "content": text}]
