"""A prompt version rendered with the first case of an eval suite that uses the prompt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from promptkit.errors import PromptkitError
from promptkit.evals.suite import Case, load_suite
from promptkit.templates.prompt import Prompt

__all__ = ["Example", "example_of", "suites_of"]


@dataclass(frozen=True)
class Example:
    """The messages `prompt` renders for `case` of `suite`, or why it does not render."""

    suite: str
    case: str
    messages: list[dict[str, Any]]
    error: str | None = None


def suites_of(evals: Path, prompt: str) -> list[Path]:
    """The suite files of `evals/` that test `prompt` (read as YAML, not loaded)."""
    found = []
    for path in sorted([*evals.glob("*.yaml"), *evals.glob("*.yml")]) if evals.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("prompt") == prompt:
            found.append(path)
    return found


def example_of(evals: Path, prompt: Prompt) -> Example | None:
    """The first case of the first suite of `prompt` that loads, rendered (None: no suite)."""
    for path in suites_of(evals, prompt.name):
        try:
            case = load_suite(path).cases[0]
        except PromptkitError:
            continue
        return _rendered(path.stem, case, prompt)
    return None


def _rendered(suite: str, case: Case, prompt: Prompt) -> Example:
    try:
        messages = [dict(m) for m in prompt.render(dict(case.variables))]
    except PromptkitError as exc:
        return Example(suite, case.id, [], str(exc))
    return Example(suite, case.id, messages)
