"""Validating outputs against their JSON Schema, and the re-ask that feeds the errors back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jsonschema import exceptions as schema_exceptions
from jsonschema import validators

from promptkit.core.structured import Extracted, OutputPlan
from promptkit.core.types import Message
from promptkit.errors import UsageError
from promptkit.hashing import canonical_json

__all__ = ["check_schema", "json_path", "reask_messages", "validate"]

MAX_ERRORS = 20
MAX_MESSAGE = 300


def check_schema(schema: dict[str, Any], what: str = "the output schema") -> None:
    """Refuse a schema that is not itself valid JSON Schema, before any call is made."""
    try:
        _validator(canonical_json(schema))
    except UsageError as exc:
        raise UsageError(f"{what} is not valid JSON Schema: {exc}") from None


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Any:
    schema = json.loads(schema_text)
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except schema_exceptions.SchemaError as exc:
        raise UsageError(exc.message) from exc
    return cls(schema)


def validate(value: Any, schema: dict[str, Any]) -> list[str]:
    """Every way `value` breaks `schema`, as `path: message` lines (empty when valid)."""
    validator = _validator(canonical_json(schema))
    errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
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
