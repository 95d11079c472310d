"""Asking an endpoint for structured output the way it can give it, and reading the answer back.

| capability           | on the wire (Chat Completions; see the providers)   | output read from   |
|----------------------|-----------------------------------------------------|--------------------|
| `json_schema`        | `response_format: json_schema` (strict if it can)   | the content        |
| `json_object_schema` | `response_format: {type: json_object, schema: ...}` | the content        |
| `json_object`        | `response_format: json_object` + schema in prompt   | the content        |
| `tool`               | one tool, forced with `tool_choice`                 | the tool call args |
| `prompt`             | the schema asked for in the system message          | JSON in the text   |

The plan says which technique, schema, name and instruction, and which tools the model
is offered besides (`tools`, chosen by the model: `tool_choice` auto); each provider adapter
(`promptkit.core.providers`) turns it into its API's parameters. A reply that calls an
offered tool is a tool turn: it holds no output to read, only calls to run.

An output spec in `tool` mode is sent as a forced tool call by `json_schema` and `tool`
endpoints. `json_object_schema` (llama.cpp's server) decodes under a grammar built from the
schema (less its regex `pattern`s, see `grammar_schema`), so the schema stays out of the
prompt; a `tool` mode spec is asked for as JSON there, with a one-line instruction naming
the function. Whatever the route, the value is parsed here and validated by the caller (a
grammar does not enforce every keyword, e.g. numeric bounds).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from promptkit.core.results import ProviderReply
from promptkit.core.types import Capability, Message, OutputSpec, ToolSpec
from promptkit.errors import UsageError
from promptkit.memo import ValueMemo

__all__ = ["Extracted", "OutputPlan", "extract_json", "grammar_schema", "plan_output"]

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class OutputPlan:
    """How one output spec is requested from one endpoint: the technique, the schema, the
    name (of the forced tool, or of the response format) and an instruction for the prompt."""

    technique: Capability | None
    schema: dict[str, Any] | None
    name: str = "output"
    description: str = ""
    instruction: str | None = None
    tools: tuple[ToolSpec, ...] = ()

    @property
    def tool_name(self) -> str | None:
        return self.name if self.technique == "tool" else None

    def is_tool_turn(self, reply: ProviderReply) -> bool:
        """Does the reply call a tool other than the output's own, with tools offered?"""
        return bool(self.tools) and any(c.name != self.tool_name for c in reply.tool_calls)

    @property
    def strict(self) -> bool:
        """Can the schema be enforced strictly (OpenAI's strict mode)?"""
        return self.schema is not None and is_strict_compatible(self.schema)

    def prepare(self, messages: list[Message]) -> list[Message]:
        """The messages to send: the schema instruction added to the last system message."""
        if self.instruction is None:
            return list(messages)
        out = list(messages)
        for i in range(len(out) - 1, -1, -1):
            if out[i].get("role") == "system" and isinstance(out[i].get("content"), str):
                out[i] = {**out[i], "content": f"{out[i]['content']}\n\n{self.instruction}"}
                return out
        return [{"role": "system", "content": self.instruction}, *out]


@dataclass(frozen=True)
class Extracted:
    """What was read from a response: the raw text, the value, or why it could not be read."""

    raw: str | None
    value: Any = None
    error: str | None = None
    tool_call_id: str | None = None
    tool_turn: bool = False
    """The reply called offered tools: no output to validate yet."""


def plan_output(spec: OutputSpec, capability: Capability,
                tools: Sequence[ToolSpec] = ()) -> OutputPlan:
    """Choose the technique and the reading route for `spec` on this endpoint, offering
    `tools` besides."""
    return replace(_plan(spec, capability), tools=tuple(tools))


def _plan(spec: OutputSpec, capability: Capability) -> OutputPlan:
    if not spec.structured:
        return OutputPlan(technique=None, schema=None)
    schema = _schema_of(spec)
    name = spec.tool.name if spec.mode == "tool" and spec.tool else "output"
    description = spec.tool.description if spec.mode == "tool" and spec.tool else ""
    use_tool = capability == "tool" or (spec.mode == "tool" and capability == "json_schema")
    if use_tool:
        return OutputPlan("tool", schema, name, description)
    if capability == "json_schema":
        return OutputPlan("json_schema", schema, name, description)
    if capability == "json_object_schema":
        return OutputPlan(capability, schema, name, description, _function_instruction(spec))
    return OutputPlan(capability, schema, name, description, _instruction(schema, spec))


def _schema_of(spec: OutputSpec) -> dict[str, Any]:
    if spec.mode == "tool" and spec.tool is None:
        raise UsageError("output mode 'tool' needs a tool (OutputSpec.tool)")
    schema = spec.json_schema
    if schema is None:
        if spec.mode == "json_schema":
            raise UsageError("output mode 'json_schema' needs a schema (OutputSpec.schema)")
        return {"type": "object"}
    return schema


_schema_text: ValueMemo[str] = ValueMemo(lambda schema: json.dumps(schema, ensure_ascii=False))
"""A schema as the instruction shows it, written once per schema, not once per call."""


def _instruction(schema: dict[str, Any], spec: OutputSpec) -> str:
    text = _schema_text(schema)
    if spec.mode == "tool" and spec.tool is not None:
        return (
            f"Respond with only a JSON object holding {_arguments_of(spec.tool)}, matching this "
            f"JSON Schema, and no other text:\n{text}"
        )
    return f"Respond with only JSON matching this JSON Schema, and no other text:\n{text}"


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "contains", "not", "if", "then", "else")


def grammar_schema(schema: Any) -> Any:
    """`schema` without its `pattern` keywords, for a server that builds a grammar from it.

    llama.cpp copies a regex's classes into its grammar as they are, and its grammar parser
    knows no `\\s`, `\\d` or `\\w`: `"pattern": "^\\d+$"` aborts the whole server process.
    Patterns are still checked, by validation after the reply.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "pattern" and isinstance(value, str):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: grammar_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [grammar_schema(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            value = grammar_schema(value)
        out[key] = value
    return out


def _function_instruction(spec: OutputSpec) -> str | None:
    """A tool-mode prompt asked for plain JSON: which function's arguments (the schema
    itself is enforced by the server's grammar, so it is not repeated in the prompt)."""
    if spec.mode != "tool" or spec.tool is None:
        return None
    return f"Respond with only a JSON object holding {_arguments_of(spec.tool)}."


def _arguments_of(tool: ToolSpec) -> str:
    what = f"the arguments of the function `{tool.name}`"
    if tool.description:
        what += f" ({tool.description})"
    return what


def is_strict_compatible(schema: Any) -> bool:
    """Can OpenAI's strict mode take this schema: closed objects, every property required?"""
    if not isinstance(schema, dict):
        return True
    props = schema.get("properties")
    if isinstance(props, dict) or schema.get("type") == "object":
        props = props if isinstance(props, dict) else {}
        closed = schema.get("additionalProperties") is False
        if not closed or set(schema.get("required", [])) != set(props):
            return False
    return all(is_strict_compatible(sub) for sub in _subschemas(schema))


def _subschemas(schema: dict[str, Any]) -> list[Any]:
    subs: list[Any] = []
    for key in ("properties", "$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            subs += schema[key].values()
    for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
        if isinstance(schema.get(key), list):
            subs += schema[key]
    subs += [schema[key] for key in ("items", "not") if isinstance(schema.get(key), dict)]
    return subs


def extract_json(text: str) -> Any:
    """The JSON in a reply: the whole text, a ```json fence, or the first value in prose.

    Strict: `NaN`, `Infinity` and duplicate keys are not JSON, and are refused. When no
    value can be read, the error is the parser's own message for the whole reply (with its
    line and column), which is also what a re-ask shows the model."""
    stripped = text.strip()
    try:
        return strict_loads(stripped)
    except ValueError as exc:
        first = exc
    for block in _FENCE.findall(text):
        try:
            return strict_loads(block.strip())
        except ValueError:
            continue
    for match in re.finditer(r"[{\[]", text):
        try:
            return _STRICT.raw_decode(text, match.start())[0]
        except _NotJSON as exc:
            raise ValueError(str(exc)) from None
        except ValueError:
            continue
    raise ValueError(f"no JSON value found in the reply ({first})")


class _NotJSON(ValueError):
    """A value Python's parser accepts but JSON does not (NaN, Infinity, a repeated key)."""


def _constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not JSON: a number must be finite (JSON has no NaN or Infinity)")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _NotJSON(f"duplicate key {key!r} in an object: each key may appear once")
        seen[key] = value
    return seen


_STRICT = json.JSONDecoder(parse_constant=_constant, object_pairs_hook=_pairs)


def strict_loads(text: str) -> Any:
    """`json.loads` for model output: NaN, Infinity and duplicate keys are errors."""
    return _STRICT.decode(text)


def extract(reply: ProviderReply, plan: OutputPlan) -> Extracted:
    """Read the output of a provider's reply along the plan's route."""
    if plan.is_tool_turn(reply):
        return Extracted(raw=reply.text, tool_turn=True)
    if plan.technique == "tool":
        return _extract_tool(reply, plan)
    content = reply.text
    if plan.technique is None:
        return Extracted(raw=content, value=content if content is not None else "")
    if not content:
        return Extracted(raw=content, error="the reply holds no content, expected JSON")
    try:
        return Extracted(raw=content, value=extract_json(content))
    except ValueError as exc:
        return Extracted(raw=content, error=f"the reply is not valid JSON: {exc}")


def _extract_tool(reply: ProviderReply, plan: OutputPlan) -> Extracted:
    chosen = next((c for c in reply.tool_calls if c.name == plan.tool_name), None)
    if chosen is None:
        error = f"the reply did not call the tool `{plan.tool_name}`"
        return Extracted(raw=reply.text, error=error)
    raw = chosen.arguments
    try:
        value = strict_loads(raw) if raw and raw.strip() else {}
    except ValueError as exc:
        return Extracted(
            raw=raw, error=f"the tool arguments are not valid JSON: {exc}", tool_call_id=chosen.id
        )
    return Extracted(raw=raw, value=value, tool_call_id=chosen.id)
