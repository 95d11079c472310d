"""What a red team can learn about a prompt without calling a model: which inputs take free
text, which of them land in the system message, the label a classifier answers with, and
a line of its instructions that must never come back in an answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promptkit.errors import PromptError
from promptkit.templates import Prompt

__all__ = ["Label", "Target", "accepts", "analyse", "filler"]

_MIN_SYSTEM_LINE = 24
"""Shorter lines of a system message are too common ("Be concise.") to prove a leak."""


@dataclass(frozen=True)
class Label:
    """The output field a classifier answers with, and the values it may take."""

    path: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    """A prompt seen by the red team."""

    prompt: Prompt
    base: dict[str, Any]
    """Valid values for every required input: what attacks are planted into."""
    attackable: tuple[str, ...]
    """String inputs an attacker could write into (no enum, no pattern)."""
    in_system: tuple[str, ...] = ()
    """Attackable inputs rendered into the system message: where a canary can hide."""
    label: Label | None = None
    system_line: str | None = None
    structured: bool = False


def analyse(prompt: Prompt, base: dict[str, Any]) -> Target:
    """The prompt as a target, with `base` filled up to every declared input."""
    properties = prompt.inputs_schema["properties"]
    values = {**{name: filler(schema) for name, schema in properties.items()}, **base}
    attackable = tuple(n for n, s in properties.items() if _free_text(s))
    return Target(
        prompt=prompt, base=values, attackable=attackable,
        in_system=_in_system(prompt, values, attackable), label=_label(prompt),
        system_line=_system_line(prompt, values), structured=prompt.meta.output.structured,
    )  # fmt: skip


def filler(schema: dict[str, Any]) -> Any:
    """A plain valid value of a declared input, for inputs no carrier supplies."""
    if "default" in schema:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    first = str(kind[0] if isinstance(kind, list) else kind)
    return {"string": "An ordinary input.", "number": 0, "integer": 0, "boolean": False,
            "array": [], "object": {}}.get(first, "")


def _free_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and not {"enum", "pattern", "const"} & set(schema)


def _in_system(prompt: Prompt, base: dict[str, Any], names: tuple[str, ...]) -> tuple[str, ...]:
    """The inputs whose value shows up in a system message, found by rendering probes."""
    probes = {name: f"redteam-probe-{index}" for index, name in enumerate(names)}
    try:
        messages = prompt.render({**base, **probes})
    except PromptError:
        return ()
    system = " ".join(str(m.get("content")) for m in messages if m["role"] == "system")
    return tuple(name for name, probe in probes.items() if probe in system)


def _label(prompt: Prompt) -> Label | None:
    """The first top-level string field with an enum of the output schema, if any."""
    schema = prompt.meta.output.json_schema or {}
    for name, spec in (schema.get("properties") or {}).items():
        if isinstance(spec, dict) and len(spec.get("enum") or ()) > 1:
            return Label(name, tuple(str(v) for v in spec["enum"]))
    return None


def _system_line(prompt: Prompt, base: dict[str, Any]) -> str | None:
    """The longest line of the rendered system message, if long enough to prove a leak."""
    try:
        messages = prompt.render(base)
    except PromptError:
        return None
    lines = [line.strip() for m in messages if m["role"] == "system"
             for line in str(m.get("content")).splitlines()]
    longest = max(lines, key=len, default="")
    return longest if len(longest) >= _MIN_SYSTEM_LINE else None


def accepts(prompt: Prompt, variables: dict[str, Any]) -> bool:
    """Whether `variables` pass the prompt's declared inputs."""
    try:
        prompt.check_inputs(dict(variables))
    except PromptError:
        return False
    return True
