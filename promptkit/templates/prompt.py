"""One version of a prompt: its metadata, its chat sections, and rendering to messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2

from promptkit.core.types import Message
from promptkit.errors import InputValidationError
from promptkit.templates.front_matter import PromptMeta
from promptkit.templates.images import ImageSlots, image_part
from promptkit.templates.inputs import apply_defaults, compile_inputs, image_inputs, input_errors
from promptkit.templates.render import Where, compile_section, render_template

__all__ = ["HISTORY", "ROLES", "Prompt", "Section"]

ROLES = ("system", "user", "assistant")
HISTORY = "history"


@dataclass(frozen=True)
class Section:
    """A chat message template (`role` is a chat role) or the history slot (`role` "history",
    `text` the variable holding the conversation). `line` is the file line `text` starts on."""

    role: str
    text: str
    line: int


@dataclass(frozen=True)
class Prompt:
    """One immutable version of a prompt, parsed from its file (see `parse_prompt`)."""

    meta: PromptMeta
    front_matter: dict[str, Any]
    template: str
    sections: tuple[Section, ...]
    content_hash: str
    source: str
    path: Path | None = None
    front_matter_lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def ref(self) -> str:
        """`name@version`."""
        return f"{self.name}@{self.version}"

    @property
    def where(self) -> Where:
        return Where(self.name, self.version, self.path)

    @cached_property
    def inputs_schema(self) -> dict[str, Any]:
        return compile_inputs(self.meta.inputs)

    @cached_property
    def image_variables(self) -> frozenset[str]:
        """The inputs declared as `image`: rendered as content parts, not as text."""
        return image_inputs(self.meta.inputs)

    @cached_property
    def _compiled(self) -> tuple[jinja2.Template | None, ...]:
        return tuple(
            None if s.role == HISTORY else compile_section(s.text, s.line, self.where)
            for s in self.sections
        )

    def check_inputs(self, variables: dict[str, Any]) -> dict[str, Any]:
        """The variables with defaults filled in; raises InputValidationError on any problem."""
        problems = input_errors(self.inputs_schema, variables)
        if problems:
            variable, _ = problems[0]
            message = "; ".join(text for _, text in problems)
            raise InputValidationError(message, variable=variable, **self._input_at(variable))
        return apply_defaults(self.inputs_schema, variables)

    def _input_at(self, variable: str) -> dict[str, Any]:
        """Where an input is declared, for its errors: the prompt, the file and the line."""
        lines = self.front_matter_lines
        return self.where.at(lines.get(f"inputs.{variable}", lines.get("inputs")))

    def render(self, variables: dict[str, Any] | None = None, /, **more: Any) -> list[Message]:
        """The chat messages, after checking the variables against the declared inputs.

        Values are data: a value containing `{{ ... }}` is inserted as text, never evaluated.
        An `image` input renders as a content part where the template places it (the
        message's content is then a list of parts). Sections that render to only
        whitespace are left out.
        """
        values = self.check_inputs({**(variables or {}), **more})
        images = ImageSlots()
        for name in self.image_variables & values.keys():
            values[name] = images.add(image_part(values[name], name, self._input_at(name)))
        messages: list[Message] = []
        for section, template in zip(self.sections, self._compiled, strict=True):
            if template is None:
                messages.extend(dict(m) for m in values[section.text])
                continue
            content = render_template(template, values, self.where).strip()
            if content:
                messages.append({"role": section.role, "content": images.content(content)})
        return messages
