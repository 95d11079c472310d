"""Running a suite's judges over its human labels (`promptkit judge calibrate SUITE`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptkit.errors import SuiteFormatError
from promptkit.evals.assertions import LLMJudge
from promptkit.evals.calibration import (
    Calibration,
    HumanLabel,
    JudgeVerdicts,
    calibrate,
    calibration_path,
    labels_path,
    load_calibrations,
    read_labels,
    save_calibrations,
)
from promptkit.evals.judges import JudgeSpec, aggregate
from promptkit.evals.session import EvalSession
from promptkit.evals.suite import Case, Suite

__all__ = ["CalibrationRun", "calibrate_suite", "judge_verdicts", "suite_judges"]


@dataclass(frozen=True)
class CalibrationRun:
    """What calibrating one suite found, and where it was written."""

    suite: Suite
    calibrations: tuple[Calibration, ...]
    written: str


def suite_judges(suite: Suite) -> dict[str, JudgeSpec]:
    """Every graded judge a suite's cases use, by name."""
    return {a.spec.name: a.spec for case in suite.cases for a in case.assertions
            if isinstance(a, LLMJudge)}


def calibrate_suite(session: EvalSession, suite: Suite) -> CalibrationRun:
    """Score every labelled output with its judge, compare with the humans, and store the
    result beside the suite."""
    path = labels_path(suite.path)
    if not path.is_file():
        raise SuiteFormatError(f"{suite.path}: no human labels at {path} (one JSON object per "
                               f"line: case, output, human)")
    judges = suite_judges(suite)
    if not judges:
        raise SuiteFormatError(f"{suite.path}: no `judge` assertion to calibrate")
    labels = read_labels(path)
    cases = {case.id: case for case in suite.cases}
    calibrations = tuple(
        calibrate(spec, [_pair(session, suite, spec, cases, label, path)
                         for label in _labels_of(spec, labels, len(judges), path)])
        for spec in judges.values())
    written = calibration_path(suite.path)
    save_calibrations(written, calibrations)
    return CalibrationRun(suite, calibrations, str(written))


def _labels_of(spec: JudgeSpec, labels: list[HumanLabel], judges: int,
               path: object) -> list[HumanLabel]:
    mine = [label for label in labels
            if label.judge == spec.name or (label.judge is None and judges == 1)]
    if not mine:
        raise SuiteFormatError(f"{path}: no label for judge {spec.name!r} (with several "
                               f"judges in the suite, each label names its `judge`)")
    return mine


def _pair(session: EvalSession, suite: Suite, spec: JudgeSpec, cases: dict[str, Case],
          label: HumanLabel, path: object) -> tuple[float, float]:
    case = cases.get(label.case)
    if case is None:
        raise SuiteFormatError(f"{path}:{label.line}: no case {label.case!r} in {suite.path}")
    scores = session.judge_scores(
        spec, output=label.output, variables=dict(case.variables),
        expected=dict(case.expect) or None,
        cassette=f"{suite.name}/calibration/{spec.name}/{case.id}-{label.line}.json")
    return aggregate(spec, [s.score for s in scores]), label.human


def judge_verdicts(suites: Sequence[Suite], baseline: Sequence[Mapping[str, Any]],
                   candidate: Sequence[Mapping[str, Any]]) -> tuple[JudgeVerdicts, ...]:
    """Each judge of the gated suites: how often it passed each side's answers, and its
    stored calibration."""
    found = []
    for suite in suites:
        stored = load_calibrations(calibration_path(suite.path))
        for name, spec in suite_judges(suite).items():
            cases = {c.id for c in suite.cases if any(
                isinstance(a, LLMJudge) and a.spec.name == name for a in c.assertions)}
            base = _tally(suite.name, name, cases, baseline)
            cand = _tally(suite.name, name, cases, candidate)
            known = stored.get(name)
            found.append(JudgeVerdicts(name, suite.name, *base, *cand, calibration=known,
                                       stale=known is not None
                                       and known.rubric_hash != spec.rubric_hash))
    return tuple(found)


def _tally(suite: str, judge: str, cases: set[str],
           rows: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    judged = [r for r in rows if r["suite"] == suite and r["case_id"] in cases]
    failed = sum(1 for r in judged if any(
        f.get("kind") == "judge" and f.get("path") == judge for f in r.get("failures") or []))
    return len(judged) - failed, len(judged)
