"""The `.prompt` file format: YAML front matter over a Jinja body split into chat sections.

    ---
    name: sentiment
    version: 1.2.0
    inputs: {text: string}
    ---
    system:
    You classify sentiment.
    history: conversation        (optional: a `messages` variable inserted as-is)
    user:
    {{ text }}

Role markers (`system:`, `user:`, `assistant:`) stand alone on their line. Sections are
split before rendering, so no variable's value can ever open a new message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from promptkit.core.types import ModelConfig, OutputSpec, ToolSpec
from promptkit.core.validation import schema_problem
from promptkit.errors import PromptFormatError
from promptkit.hashing import content_hash
from promptkit.templates.front_matter import PromptMeta
from promptkit.templates.inputs import variable_schema
from promptkit.templates.prompt import HISTORY, ROLES, Prompt, Section
from promptkit.templates.yamldoc import YamlDoc, YamlProblem, load_yaml

__all__ = ["parse_prompt"]

FENCE = "---"
_ROLE_LINE = re.compile(rf"^({'|'.join(ROLES)}):\s*$")
_HISTORY_LINE = re.compile(rf"^{HISTORY}:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
_NESTED_MODELS: dict[tuple[str, ...], type[BaseModel]] = {
    (): PromptMeta,
    ("model",): ModelConfig,
    ("output",): OutputSpec,
    ("output", "tool"): ToolSpec,
    ("tools",): ToolSpec,
}


def parse_prompt(
    text: str, path: Path | str | None = None, *, name: str | None = None,
    version: str | None = None,
) -> Prompt:
    """Parse a prompt file's text. `name` and `version`, when given (from the file's
    location), fill in or must equal the front matter's."""
    where = {"path": path, "prompt": name, "version": version}
    raw_meta, body, body_line, doc = _split(text, where)
    raw_meta = _with_location(raw_meta, name, version, doc, where)
    where.update(prompt=raw_meta.get("name"), version=raw_meta.get("version"))
    meta = _validate(raw_meta, doc, where)
    where.update(prompt=meta.name, version=meta.version)
    _check_schemas(meta, doc, where)
    sections = _sections(body, body_line, meta, where)
    prompt = Prompt(
        meta=meta,
        front_matter=raw_meta,
        template=body,
        sections=sections,
        content_hash=content_hash({"front_matter": raw_meta, "template": body}),
        source=text,
        path=Path(path) if path is not None else None,
        front_matter_lines={".".join(map(str, k)): v for k, v in doc.lines.items()},
    )
    _ = prompt._compiled  # syntax and sandbox checks happen at load, not at first render
    return prompt


def _split(text: str, where: dict[str, Any]) -> tuple[dict[str, Any], str, int, YamlDoc]:
    """Front matter mapping, body text, the body's first line, and the line of every key."""
    rows = text.splitlines(keepends=True)
    if not rows or rows[0].strip() != FENCE:
        raise PromptFormatError(f"a prompt file starts with a '{FENCE}' line", **where, line=1)
    end = next((i for i, r in enumerate(rows[1:], 1) if r.strip() == FENCE), None)
    if end is None:
        raise PromptFormatError(f"the front matter has no closing '{FENCE}' line", **where, line=1)
    try:
        doc = load_yaml("".join(rows[1:end]), first_line=2)
    except YamlProblem as exc:
        raise PromptFormatError(
            f"front matter: {exc.message}", field=exc.field, **where, line=exc.line
        ) from None
    data = doc.data or {}
    if not isinstance(data, dict):
        raise PromptFormatError("front matter must be a YAML mapping", **where, line=2)
    if "version" in data:
        data["version"] = doc.raw_scalar("version")  # `1.10` is a version, not 1.1
    return data, "".join(rows[end + 1 :]), end + 2, doc


def _with_location(raw: dict, name: str | None, version: str | None, doc: YamlDoc, where: dict):
    """Fill name/version from the file's location; a disagreement is an error."""
    filled = dict(raw)
    for key, expected in (("name", name), ("version", version)):
        if expected is None:
            continue
        given = filled.setdefault(key, expected)
        if str(given) != expected:
            raise PromptFormatError(
                f"{key} is {given!r} but the file's location says {expected!r}",
                field=key, **where, line=doc.lines.get((key,)),
            )
    return filled


def _validate(raw: dict[str, Any], doc: YamlDoc, where: dict[str, Any]) -> PromptMeta:
    try:
        return PromptMeta.model_validate(raw)
    except ValidationError as exc:
        error = _first_relevant(exc, raw)
        loc = _clean_loc(error["loc"])
        in_yaml = tuple(int(p) if p.isdigit() else p for p in loc)  # list items by index
        raise PromptFormatError(
            _describe(error, loc), field=".".join(loc), **where, line=doc.line_of(in_yaml)
        ) from None


def _first_relevant(exc: ValidationError, raw: dict[str, Any]) -> Any:
    """Skip errors from the union branch the input obviously did not mean."""
    errors = exc.errors()
    model_is_mapping = isinstance(raw.get("model"), dict)
    for error in errors:
        loc = error["loc"]
        if loc[:1] == ("model",) and len(loc) > 1 and (loc[1] == "str") == model_is_mapping:
            continue
        return error
    return errors[0]


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(p) for p in loc if p not in ("str", "ModelConfig"))


def _describe(error: Any, loc: tuple[str, ...]) -> str:
    field = ".".join(loc)
    if error["type"] == "extra_forbidden":
        parent = _NESTED_MODELS.get(tuple(p for p in loc[:-1] if not p.isdigit()), PromptMeta)
        allowed = sorted(f.alias or n for n, f in parent.model_fields.items())
        place = f" in {'.'.join(loc[:-1])}" if loc[:-1] else ""
        return f"unknown key {loc[-1]!r}{place}; allowed keys: {', '.join(allowed)}"
    return f"{field}: {error['msg']} (got {error.get('input')!r})"


def _check_schemas(meta: PromptMeta, doc: YamlDoc, where: dict[str, Any]) -> None:
    """Every declared input and the output schema must be valid JSON Schemas."""
    for variable, spec in meta.inputs.items():
        try:
            problem = schema_problem(variable_schema(spec))
        except ValueError as exc:
            problem = str(exc)
        if problem:
            loc = ("inputs", variable)
            raise PromptFormatError(f"inputs.{variable}: {problem}", field=".".join(loc),
                                    **where, line=doc.line_of(loc))
    schema = meta.output.json_schema
    if schema is not None and (problem := schema_problem(schema)):
        raise PromptFormatError(f"output schema is not a valid JSON Schema: {problem}",
                                field="output", **where, line=doc.line_of(("output",)))
    if meta.output.mode == "tool" and meta.output.tool is None:
        raise PromptFormatError("output mode 'tool' needs output.tool (name, parameters)",
                                field="output.tool", **where, line=doc.line_of(("output",)))
    _check_tools(meta, doc, where)


def _check_tools(meta: PromptMeta, doc: YamlDoc, where: dict[str, Any]) -> None:
    """Each declared tool's parameters are a valid JSON Schema, and each name its own (the
    output's tool counts: calling it is the answer)."""
    seen = {meta.output.tool.name} if meta.output.mode == "tool" and meta.output.tool else set()
    for index, tool in enumerate(meta.tools):
        loc = ("tools", index)
        problem = schema_problem(tool.parameters)
        if problem:
            problem = f"tools[{index}].parameters is not a valid JSON Schema: {problem}"
        elif tool.name in seen:
            problem = f"two tools are named {tool.name!r} (the output's tool counts too)"
        if problem:
            raise PromptFormatError(problem, field=f"tools.{index}", **where,
                                    line=doc.line_of(loc))
        seen.add(tool.name)


def _sections(body: str, body_line: int, meta: PromptMeta, where: dict) -> tuple[Section, ...]:
    """Split the body at its marker lines; a body without markers is one user message."""
    rows = body.splitlines(keepends=True)
    markers = [_marker(row) for row in rows]
    if not any(markers):
        if not body.strip():
            raise PromptFormatError("the template is empty", **where, line=body_line)
        return (Section("user", body, body_line),)
    sections: list[Section] = []
    role, start, chunk = None, body_line, []
    numbered = zip(range(body_line, body_line + len(rows)), rows, markers, strict=True)
    for line, row, marker in numbered:
        if marker is None:
            chunk.append(row)
            continue
        _close(sections, role, start, chunk, where)
        role, start, chunk = marker[1], line + 1, []
        if marker.re is _HISTORY_LINE:
            sections.append(Section(HISTORY, _history_var(marker[1], meta, where, line), line))
            role = None
    _close(sections, role, start, chunk, where)
    return tuple(sections)


def _marker(row: str) -> re.Match[str] | None:
    text = row.rstrip("\r\n")
    return _ROLE_LINE.match(text) or _HISTORY_LINE.match(text)


def _close(sections: list[Section], role: str | None, start: int, chunk: list[str], where: dict):
    """End the current section; text that belongs to no role section is an error."""
    text = "".join(chunk)
    if role is not None:
        sections.append(Section(role, text, start))
    elif text.strip():
        first = start + next(i for i, r in enumerate(chunk) if r.strip())
        raise PromptFormatError(
            "text outside a role section: put it under 'system:', 'user:' or 'assistant:'",
            **where, line=first,
        )


def _history_var(name: str, meta: PromptMeta, where: dict, line: int) -> str:
    if variable_schema(meta.inputs.get(name, {})).get("type") != "array":
        raise PromptFormatError(
            f"history slot {name!r} must be declared in inputs as type 'messages'",
            field=f"inputs.{name}", **where, line=line,
        )
    return name
