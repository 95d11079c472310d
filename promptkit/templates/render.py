"""Sandboxed rendering: Jinja's SandboxedEnvironment with StrictUndefined, errors located."""

from __future__ import annotations

import contextvars
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from promptkit.errors import (
    InputValidationError,
    ResourceLimitError,
    TemplateSecurityError,
    TemplateSyntaxError,
)
from promptkit.templates.limits import LIMITS, limit_message

__all__ = [
    "ENVIRONMENT", "LimitedSandbox", "Where", "compile_section", "render_template",
    "used_variables",
]

class _Budget:
    """What one render may still spend: characters, range items, CPU time.

    Time is the rendering thread's own CPU time: a render waiting on a loaded machine, or
    for the GIL while another thread collects garbage, spends none of it. Reading that
    clock is a system call; a thread's CPU time never grows faster than the wall clock, so
    a tick reads it only once the wall clock shows the rest of the budget could be spent."""

    def __init__(self) -> None:
        self.chars = LIMITS.max_render_chars
        self.range_items = LIMITS.max_range_items
        self.deadline = time.thread_time() + LIMITS.max_render_seconds
        self._look_at = time.perf_counter() + LIMITS.max_render_seconds

    def tick(self) -> None:
        now = time.perf_counter()
        if now < self._look_at:
            return
        left = self.deadline - time.thread_time()
        if left < 0:
            raise _Limit(limit_message("the render computed for longer than",
                                       "max_render_seconds") + " s of CPU time")
        self._look_at = now + left


class _Limit(jinja2.exceptions.SecurityError):
    """A render limit was reached (reported as ResourceLimitError)."""


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("budget", default=None)


def _budget() -> _Budget:
    """The current render's budget. A template rendered outside `render_template` has none:
    each check then gets a fresh one (bounding that step), never one stored in the context,
    whose clock would run out for every later render in it."""
    return _BUDGET.get() or _Budget()


class _LimitedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b ~ c` to a join that checks the result's size before building it."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.limited_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _LimitedNamespace(Namespace):
    """`namespace()`, whose attributes may not grow past the output limit (a loop that
    doubles `ns.x` would otherwise fill memory without producing output)."""

    def __setitem__(self, name: str, value: Any) -> None:
        _budget().tick()
        _check_size(value)
        super().__setitem__(name, value)


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (no `list.append`, no `dict.update`), bounded: no constant
    folding at compile time (which would build `'x' * 10**8` while loading the file),
    repetition, concatenation and powers checked before they are computed, `range`
    counted across a render, `namespace` attributes capped, any call given an integer or a
    value larger than the output limit refused (`center(10**8)`), and the render's clock
    checked at every step."""

    intercepted_binops = frozenset({"*", "**", "+"})
    code_generator_class = _LimitedCodeGenerator

    def limited_concat(self, items: tuple[Any, ...]) -> str:
        _budget().tick()
        parts = [str(item) for item in items]
        if sum(map(len, parts)) > LIMITS.max_render_chars:
            raise _Limit(limit_message("joining these values would build more than",
                                       "max_render_chars") + " characters")
        return "".join(parts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _budget().tick()
        if operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple) \
                    and len(left) + len(right) > LIMITS.max_render_chars:
                raise _Limit(limit_message("adding these would build more than",
                                           "max_render_chars"))
        elif operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif isinstance(left, int) and isinstance(right, int) and abs(right) > 64 \
                and abs(left) > 1:
            raise _Limit(f"a power {left} ** {right} is too large to compute")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) \
                    and value > LIMITS.max_render_chars:
                raise _Limit(limit_message(f"an argument {value:,} is larger than the output "
                                           "limit of", "max_render_chars"))
        result = super().call(__context, __obj, *args, **kwargs)
        _check_size(result)
        return result


def _check_size(value: Any) -> None:
    if isinstance(value, str | list | tuple | dict) and len(value) > LIMITS.max_render_chars:
        raise _Limit(limit_message(f"a value of {len(value):,} items is larger than",
                                   "max_render_chars"))


def _check_repeat(sequence: Any, times: Any) -> None:
    if isinstance(sequence, str | list | tuple) and isinstance(times, int) \
            and len(sequence) * times > LIMITS.max_render_chars:
        raise _Limit(limit_message(f"repeating {len(sequence):,} item(s) {times:,} times "
                                   "would build more than", "max_render_chars"))


def _bounded_filter(function: Any) -> Any:
    """A filter whose integer arguments and result are held to the output limit
    (`'x' | center(10**8)` is refused before the 100 MB string is built)."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.tick()
        for value in (*args[1:], *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) \
                    and value > LIMITS.max_render_chars:
                raise _Limit(limit_message(f"an argument {value:,} is larger than the output "
                                           "limit of", "max_render_chars"))
        result = function(*args, **kwargs)
        _check_size(result)
        return result

    bounded.jinja_pass_arg = getattr(function, "jinja_pass_arg", None)  # type: ignore[attr-defined]
    bounded.__name__ = getattr(function, "__name__", "filter")
    return bounded


def _counted_range(*args: int) -> range:
    """Jinja's `range`, with every item of every call of one render counted."""
    items = range(*args)
    budget = _budget()
    budget.tick()
    budget.range_items -= len(items)
    if budget.range_items < 0:
        raise _Limit(limit_message("the render's range() calls yield more than",
                                   "max_range_items") + " items")
    return items


ENVIRONMENT = LimitedSandbox(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    optimized=False,
)
"""The one Jinja environment every prompt renders in."""
ENVIRONMENT.globals["range"] = _counted_range
ENVIRONMENT.filters = {name: _bounded_filter(f) for name, f in ENVIRONMENT.filters.items()}
ENVIRONMENT.globals["namespace"] = _LimitedNamespace

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
        _refuse_private_access(tree, where)
        return ENVIRONMENT.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSyntaxError(
            f"template syntax error: {exc.message}", **where.at(exc.lineno)
        ) from None
    except RecursionError:
        raise ResourceLimitError(
            "the template nests too deeply to compile (blocks or expressions inside each "
            "other); flatten it", **where.at(first_line)) from None


def _refuse_private_access(tree: nodes.Template, where: Where) -> None:
    """Refuse `x.__class__`, `x._private` and `x['__globals__']` before anything runs, and
    the shapes that reach them by other roads: `attr` with a name starting with '_' or
    computed at run time, `'{0.__class__}'.format(x)`, and include/import/extends (a prompt
    has no loader: another file is never read)."""
    for shape in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        raise TemplateSecurityError(
            "security: a prompt cannot include, import or extend another template (there is "
            "no loader; put the text in this file)", **where.at(shape.lineno))
    for found in tree.find_all(nodes.Filter):
        if found.name == "attr":
            name = _const(found.args[0]) if found.args else None
            if not isinstance(name, str) or name.startswith("_"):
                raise TemplateSecurityError(
                    "security: attr() must name a public attribute written in the template, "
                    f"not {name!r} (a name computed at run time could reach Python internals)",
                    **where.at(found.lineno))
    for call in tree.find_all(nodes.Call):
        method = call.node
        if (isinstance(method, nodes.Getattr) and method.attr in ("format", "format_map")
                and isinstance(_const(method.node), str)
                and _FIELD_ATTRIBUTE.search(_const(method.node))):
            raise TemplateSecurityError(
                "security: a format string reaches for an attribute or item of a value "
                "({0.x} or {0[x]}); use the value directly", **where.at(call.lineno))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else _const(node.arg)  # type: ignore[attr-defined]
        if isinstance(name, str) and name.startswith("_"):
            raise TemplateSecurityError(
                f"security: the template reaches for {name!r}; attributes starting with '_' "
                "are Python internals and are refused in the sandbox",
                **where.at(node.lineno),
            )


_FIELD_ATTRIBUTE = re.compile(r"\{[^{}!:]*[.\[]")
"""A `str.format` replacement field with attribute or item access (`{0.__class__}`)."""


def _const(node: nodes.Node) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def static_limit_problems(text: str, first_line: int) -> list[tuple[int, str]]:
    """What lint can tell before any render: a constant repetition, power or `range` that
    is sure to pass a limit (`'x' * 10**8`, `range(10**9)`, `center(10**8)`)."""
    tree = ENVIRONMENT.parse(_source(text, first_line))
    found = []
    for node in tree.find_all((nodes.Mul, nodes.Pow, nodes.Call, nodes.Filter)):
        if isinstance(node, nodes.Call | nodes.Filter):
            args = [*node.args, *(k.value for k in node.kwargs)]
        else:
            args = [node.left, node.right]  # type: ignore[attr-defined]
        big = [a.value for a in args if isinstance(a, nodes.Const)
               and isinstance(a.value, int) and not isinstance(a.value, bool)
               and a.value > (64 if isinstance(node, nodes.Pow) else LIMITS.max_render_chars)]
        if big:
            found.append((node.lineno, limit_message(
                f"the constant {big[0]:,} is sure to pass a render limit of", "max_render_chars")))
    return found


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
    token = _BUDGET.set(_Budget())
    try:
        return _bounded(template, variables)
    except _Limit as exc:
        raise ResourceLimitError(f"limit: {exc}", **where.at(_template_line())) from None
    except RecursionError:
        raise ResourceLimitError("limit: the render recursed too deeply",
                                 **where.at(_template_line())) from None
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
    finally:
        _BUDGET.reset(token)


def _bounded(template: jinja2.Template, variables: dict[str, Any]) -> str:
    """Render chunk by chunk, counting: the output limit stops it before it is built."""
    budget, parts = _budget(), []
    for chunk in template.generate(variables):
        budget.chars -= len(chunk)
        if budget.chars < 0:
            raise _Limit(limit_message("the output exceeds", "max_render_chars")
                         + " characters")
        budget.tick()
        parts.append(chunk)
    return "".join(parts)


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
