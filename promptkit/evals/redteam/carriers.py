"""Benign inputs an attack is planted into, taken from the prompt's own eval suites: real
inputs look like what the prompt serves, and a case that expects a label tells which label
an attack must not be able to force."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptkit.errors import SuiteFormatError
from promptkit.evals.redteam.target import accepts
from promptkit.evals.suite import load_suite
from promptkit.templates import Prompt

__all__ = ["REDTEAM_SUFFIX", "Carrier", "find_carriers"]

REDTEAM_SUFFIX = ".redteam"
"""Red-team suites are `evals/<prompt>.redteam.yaml`: never carriers themselves."""


@dataclass(frozen=True)
class Carrier:
    """Valid variables of a benign case, and the label it expects (None: unknown)."""

    variables: dict[str, Any] = field(default_factory=dict)
    label: str | None = None


def find_carriers(evals: Path, prompt: Prompt, label_path: str | None) -> list[Carrier]:
    """The cases of every suite of `prompt` in `evals` whose variables suit this version,
    in file and case order; a suite that does not load is passed over."""
    carriers = []
    for path in sorted([*evals.glob("*.yaml"), *evals.glob("*.yml")]):
        if path.stem.endswith(REDTEAM_SUFFIX):
            continue
        try:
            suite = load_suite(path)
        except (SuiteFormatError, OSError):
            continue
        if suite.prompt != prompt.name:
            continue
        carriers += [Carrier(dict(case.variables), _label(case.expect, label_path))
                     for case in suite.cases if accepts(prompt, case.variables)]
    return carriers


def _label(expect: dict[str, Any], path: str | None) -> str | None:
    value = expect.get(path) if path else None
    return value if isinstance(value, str) else None

