"""`promptkit lint`: every finding about the prompt files, as `file:line: CODE message`."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from promptkit.errors import (
    PromptError,
    ResourceLimitError,
    TemplateSecurityError,
    TemplateSyntaxError,
)
from promptkit.templates.library import PromptLibrary
from promptkit.templates.prompt import HISTORY, Prompt
from promptkit.templates.render import ENVIRONMENT, static_limit_problems, used_variables
from promptkit.templates.versions import is_version

__all__ = ["CODES", "Finding", "lint"]

STRUCTURED_MAX_TEMPERATURE = 0.3

CODES = {
    "PK001": "front matter is invalid (YAML, unknown key, wrong type, bad schema)",
    "PK002": "template syntax error",
    "PK003": "template reaches outside the sandbox",
    "PK004": "variable used in the template but not declared in inputs",
    "PK005": "input declared but never used",
    "PK006": "structured output with temperature above 0.3",
    "PK007": "released version edited: add a new version instead",
    "PK008": "file is not at prompts/<name>/<version>.prompt",
}


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    code: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code} {self.message}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def lint(library: PromptLibrary, base: str | None = None) -> list[Finding]:
    """All findings, sorted by file and line. `base` is a git revision whose released
    versions must be unchanged."""
    findings = [f for path in library.files() for f in _misplaced(library, path)]
    for item in library.load_all():
        findings += _from_error(item) if isinstance(item, PromptError) else _check(item)
    if base is not None:
        findings += _edited_since(library, base)
    return sorted(findings)


def _misplaced(library: PromptLibrary, path: Path) -> list[Finding]:
    relative = path.relative_to(library.root).parts
    if len(relative) == 2 and is_version(path.stem):
        return []
    message = "expected prompts/<name>/<version>.prompt with a version such as 1.2.0"
    return [Finding(str(path), 1, "PK008", message)]


_ERROR_CODES = {TemplateSyntaxError: "PK002", TemplateSecurityError: "PK003",
                ResourceLimitError: "PK009"}


def _from_error(error: PromptError) -> list[Finding]:
    code = _ERROR_CODES.get(type(error), "PK001")
    return [Finding(str(error.path), error.line or 1, code, error.message)]


def _check(prompt: Prompt) -> list[Finding]:
    return _variables(prompt) + _temperature(prompt) + _limits(prompt)


def _limits(prompt: Prompt) -> list[Finding]:
    """PK009: a constant sure to pass a render limit (the render would be refused)."""
    return [Finding(str(prompt.path), line, "PK009", message)
            for section in prompt.sections if section.role != HISTORY
            for line, message in static_limit_problems(section.text, section.line)]


def _variables(prompt: Prompt) -> list[Finding]:
    used: dict[str, int] = {}
    for section in prompt.sections:
        if section.role == HISTORY:
            used.setdefault(section.text, section.line)
        else:
            for name, line in used_variables(section.text, section.line).items():
                used.setdefault(name, line)
    declared = set(prompt.meta.inputs)
    path = str(prompt.path)
    findings = [
        Finding(path, line, "PK004", f"variable {name!r} is used but not declared in inputs")
        for name, line in used.items()
        if name not in declared and name not in ENVIRONMENT.globals
    ]
    lines = prompt.front_matter_lines
    findings += [
        Finding(path, lines.get(f"inputs.{name}", 1), "PK005",
                f"input {name!r} is declared but never used", "warning")
        for name in sorted(declared - set(used))
    ]
    return findings


def _temperature(prompt: Prompt) -> list[Finding]:
    meta = prompt.meta
    temperature = meta.effective_temperature
    if not meta.output.structured or temperature is None:
        return []
    if temperature <= STRUCTURED_MAX_TEMPERATURE:
        return []
    line = prompt.front_matter_lines.get("temperature") or prompt.front_matter_lines.get("task", 1)
    message = (f"structured output ({meta.output.mode}) at temperature {temperature}: "
               f"above {STRUCTURED_MAX_TEMPERATURE} invalid output gets likelier")
    return [Finding(str(prompt.path), line, "PK006", message, "warning")]


def _edited_since(library: PromptLibrary, base: str) -> list[Finding]:
    from promptkit.templates.provenance import find_repo, read_at  # git: only for --base

    repo = find_repo(library.root)
    if repo is None:
        return [Finding(str(library.root), 1, "PK007",
                        f"--base {base}: {library.root} is not inside a git repository")]
    findings = []
    for path in library.files():
        before, after = read_at(repo, base, path), path.read_text(encoding="utf-8")
        if before is None or before == after:
            continue
        line = _first_difference(before, after)
        findings.append(Finding(
            str(path), line, "PK007",
            f"version {path.stem} of {path.parent.name} was released at {base} and is "
            f"immutable: copy it to a new version instead (promptkit new {path.parent.name} "
            f"--from {path.stem})",
        ))
    return findings


def _first_difference(before: str, after: str) -> int:
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    for tag, _i1, _i2, j1, _j2 in matcher.get_opcodes():
        if tag != "equal":
            return j1 + 1
    return 1
