"""The red-team report: per family, the attacks resisted and failed, and each failed case
with its attack and answer (secrets scrubbed), as markdown or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from promptkit.errors import UsageError
from promptkit.evals.redteam.generate import case_parts
from promptkit.evals.redteam.strategies import FAMILIES
from promptkit.evals.results import CaseResult
from promptkit.redact import Scrubber

__all__ = ["ANSWER_ERRORS", "FamilyTally", "Finding", "RedTeamReport", "build_report",
           "markdown_report", "write_report"]

ANSWER_ERRORS = frozenset({"OutputValidationError", "TruncatedOutputError", "RefusalError"})
"""Errors that are the model's answer (broken, cut or refused): judged like any answer.
Any other error (a replay miss, an unreachable endpoint) means the case was not judged."""

_SHOWN = 400
"""Characters of an attack or an answer a report shows."""


@dataclass(frozen=True)
class Finding:
    """A case that failed (or could not be judged): its attack, the answer, and why."""

    case_id: str
    family: str
    input: str
    attack: str
    answer: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class FamilyTally:
    family: str
    resisted: int = 0
    failed: int = 0
    errors: int = 0


@dataclass(frozen=True)
class RedTeamReport:
    """What a red-team run found against one prompt version."""

    prompt: str
    seed: int
    suite: str
    tallies: tuple[FamilyTally, ...]
    failed: tuple[Finding, ...]
    errors: tuple[Finding, ...]

    @property
    def resisted(self) -> int:
        return sum(t.resisted for t in self.tallies)

    @property
    def total(self) -> int:
        return sum(t.resisted + t.failed + t.errors for t in self.tallies)

    def exit_code(self, report_only: bool = False) -> int:
        """2 when a case could not be judged, 1 when an attack got through (0 with
        `report_only`), else 0."""
        if self.errors:
            return 2
        return 1 if self.failed and not report_only else 0

    def as_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "seed": self.seed, "suite": self.suite,
                "cases": self.total, "resisted": self.resisted,
                "families": [asdict(t) for t in self.tallies],
                "failed": [asdict(f) for f in self.failed],
                "errors": [asdict(f) for f in self.errors]}


def build_report(prompt: str, seed: int, suite: str,
                 results: Sequence[CaseResult]) -> RedTeamReport:
    """Tally `results` (one per case) by family; failures and errors with their evidence."""
    scrubber = Scrubber()
    judged = [(r, _unjudged(r)) for r in results]
    failed = [_finding(r, scrubber) for r, error in judged if not error and not r.passed]
    errors = [_finding(r, scrubber) for r, error in judged if error]
    return RedTeamReport(prompt, seed, suite, _tallies(judged), tuple(failed), tuple(errors))


def _unjudged(result: CaseResult) -> bool:
    return any(run.error is not None and run.error_type not in ANSWER_ERRORS
               for run in result.runs)


def _tallies(judged: Sequence[tuple[CaseResult, bool]]) -> tuple[FamilyTally, ...]:
    counts: dict[str, dict[str, int]] = {}
    for result, error in judged:
        family = counts.setdefault(case_parts(result.case_id)[0], {})
        outcome = "errors" if error else "resisted" if result.passed else "failed"
        family[outcome] = family.get(outcome, 0) + 1
    order = [f for f in FAMILIES if f in counts] + sorted(set(counts) - set(FAMILIES))
    return tuple(FamilyTally(f, **counts[f]) for f in order)


def _finding(result: CaseResult, scrubber: Scrubber) -> Finding:
    family, name = case_parts(result.case_id)
    run = next((r for r in result.runs if not r.passed), result.runs[-1])
    answer = run.output if run.output is not None else run.text
    shown = (answer if isinstance(answer, str) or answer is None
             else json.dumps(answer, ensure_ascii=False))
    reasons = tuple(run.explain().splitlines())
    return Finding(result.case_id, family, name,
                   _short(scrubber.text(str(result.variables.get(name, "")))),
                   _short(scrubber.text(shown or "(no answer)")),
                   tuple(scrubber.text(r) for r in reasons))


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def markdown_report(report: RedTeamReport) -> str:
    """A summary table, then every failed case and every case that could not be judged."""
    lines = [f"# Red team: {report.prompt}", "",
             f"{report.resisted} of {report.total} attacks resisted, {len(report.failed)} "
             f"failed, {len(report.errors)} not judged (seed {report.seed}; suite "
             f"`{report.suite}`).", "",
             "| family | cases | resisted | failed | not judged |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {t.family} | {t.resisted + t.failed + t.errors} | {t.resisted} | "
              f"{t.failed} | {t.errors} |" for t in report.tallies]
    lines += _failed_section(report.failed)
    if report.errors:
        lines += ["", "## Not judged (record the calls with `--record new`, or check the "
                  "model)", ""]
        lines += [f"- {f.case_id}: {f.reasons[0] if f.reasons else 'no answer'}"
                  for f in report.errors]
    return "\n".join(lines) + "\n"


def _failed_section(findings: Sequence[Finding]) -> list[str]:
    if not findings:
        return []
    lines = ["", "## Failed: the attack got through"]
    for f in findings:
        lines += ["", f"### {f.case_id} (input `{f.input}`)", "",
                  f"- attack: {json.dumps(f.attack, ensure_ascii=True)}",
                  f"- answer: {json.dumps(f.answer, ensure_ascii=True)}",
                  *[f"- {reason}" for reason in f.reasons]]
    return lines


def write_report(report: RedTeamReport, path: Path) -> Path:
    """Write the report as markdown (.md) or JSON (.json), by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix not in (".md", ".json"):
        raise UsageError(f"{path}: a red-team report is .md or .json")
    text = (markdown_report(report) if suffix == ".md"
            else json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
