"""Sandboxed rendering: Jinja's SandboxedEnvironment with StrictUndefined, errors located."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from promptkit.errors import InputValidationError, TemplateSecurityError, TemplateSyntaxError

__all__ = ["ENVIRONMENT", "Where", "compile_section", "render_template", "used_variables"]

ENVIRONMENT = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
"""The one Jinja environment every prompt renders in."""

TEMPLATE_FILENAME = "<template>"


@dataclass(frozen=True)
class Where:
    """Where a template lives, for error messages: prompt, version and file."""

    prompt: str | None = None
    version: str | None = None
    path: Any = None

    def at(self, line: int | None) -> dict[str, Any]:
        return {"prompt": self.prompt, "version": self.version, "path": self.path, "line": line}


def _source(text: str, first_line: int) -> str:
    # Pad with newlines so Jinja's line numbers are the file's line numbers.
    return "\n" * (first_line - 1) + text


def compile_section(text: str, first_line: int, where: Where) -> jinja2.Template:
    """Parse, check and compile one section; syntax and sandbox errors name the file line."""
    source = _source(text, first_line)
    try:
        tree = ENVIRONMENT.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSyntaxError(
            f"template syntax error: {exc.message}", **where.at(exc.lineno)
        ) from None
    _refuse_private_access(tree, where)
    return ENVIRONMENT.from_string(tree)


def _refuse_private_access(tree: nodes.Template, where: Where) -> None:
    """Refuse `x.__class__`, `x._private` and `x['__globals__']` before anything runs."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else _const(node.arg)  # type: ignore[attr-defined]
        if isinstance(name, str) and name.startswith("_"):
            raise TemplateSecurityError(
                f"security: the template reaches for {name!r}; attributes starting with '_' "
                "are Python internals and are refused in the sandbox",
                **where.at(node.lineno),
            )


def _const(node: nodes.Node) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def used_variables(text: str, first_line: int) -> dict[str, int]:
    """Variables a section reads from its context, each with the first line it appears on."""
    source = _source(text, first_line)
    names = jinja2.meta.find_undeclared_variables(ENVIRONMENT.parse(source))
    lines: dict[str, int] = {}
    for lineno, kind, value in ENVIRONMENT.lex(source):
        if kind == "name" and value in names:
            lines.setdefault(value, lineno)
    return {n: lines.get(n, first_line) for n in sorted(names)}


def render_template(template: jinja2.Template, variables: dict[str, Any], where: Where) -> str:
    """Render one compiled section; runtime errors name the file line they happened on."""
    try:
        return template.render(variables)
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateSecurityError(f"security: {exc}", **where.at(_template_line())) from None
    except jinja2.UndefinedError as exc:
        raise InputValidationError(
            f"undefined in template: {exc.message}", **where.at(_template_line())
        ) from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise InputValidationError(
            f"render failed: {type(exc).__name__}: {exc}", **where.at(_template_line())
        ) from None


def _template_line() -> int | None:
    """The template line of the exception being handled (Jinja maps frames to it)."""
    tb: TracebackType | None = sys.exc_info()[2]
    line = None
    for frame, lineno in _walk(tb):
        if frame == TEMPLATE_FILENAME:
            line = lineno
    return line


def _walk(tb: TracebackType | None) -> Iterable[tuple[str, int]]:
    while tb is not None:
        yield tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
