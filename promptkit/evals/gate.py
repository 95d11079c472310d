"""The gate's verdict: two versions' results compared case by case against thresholds.

Pure: rows in (from `CaseResult.row()` or a stored results frame), a `GateReport` out.
Where the rows come from (stored runs or a fresh replayed run) is `gate_run`'s business.

Checks, each reported with its figures:
- non-inferiority: the lower end of the confidence interval of (candidate − baseline)
  pass rate may not fall below −margin (default 2 points at 95%);
- critical cases: a case marked `critical` may never flip from pass to fail;
- minimum pass rate of the candidate (off unless given);
- cost and p50 latency increases, relative to the baseline (off unless given).
A case whose call found no recording (a replay miss) makes the comparison invalid: that is
an error (exit 2), not a regression.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from promptkit.errors import UsageError
from promptkit.evals.stats import RESAMPLES, PairedStats, paired_stats

__all__ = [
    "EXIT_ERROR",
    "EXIT_PASS",
    "EXIT_REGRESSION",
    "CaseComparison",
    "Change",
    "Check",
    "Flip",
    "GateReport",
    "Side",
    "Thresholds",
    "VersionRef",
    "compare",
]

EXIT_PASS, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2

Flip = Literal["regression", "improvement"]

_MISS = "ReplayMissError"


@dataclass(frozen=True)
class Thresholds:
    """What the candidate must meet. Fractions: `margin=0.02` is 2 points of pass rate,
    `max_cost_increase=0.2` is +20% of the baseline's cost."""

    margin: float = 0.02
    min_pass_rate: float | None = None
    max_cost_increase: float | None = None
    max_latency_increase: float | None = None
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if not 0 <= self.margin <= 1:
            raise UsageError(f"margin is a fraction of pass rate (0.02 = 2 points), "
                             f"not {self.margin}")
        if self.min_pass_rate is not None and not 0 <= self.min_pass_rate <= 1:
            raise UsageError(f"min pass rate is a fraction between 0 and 1, "
                             f"not {self.min_pass_rate}")
        for name in ("max_cost_increase", "max_latency_increase"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise UsageError(f"{name} is a fraction of the baseline (0.2 = +20%), "
                                 f"not {value}")
        if not 0.5 <= self.confidence < 1:
            raise UsageError(f"confidence must be in [0.5, 1), not {self.confidence}")


@dataclass(frozen=True)
class VersionRef:
    """One side of the gate: which version, its content hash, how it was asked for
    (`label` when given as a pin such as production), and where its results came from."""

    name: str
    version: str
    content_hash: str
    label: str | None = None
    source: str = "ran"

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "content_hash": self.content_hash,
                "label": self.label, "source": self.source}


@dataclass(frozen=True)
class Side:
    """One version's result for one case."""

    passed: bool
    pass_rate: float
    cost_usd: float = 0.0
    latency_s: float = 0.0
    output: Any = None
    text: str | None = None
    error: str | None = None
    reasons: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Side:
        """From `CaseResult.row()` or a row of `ResultStore.frame()`."""
        failures = row.get("failures") or []
        reasons = tuple(dict.fromkeys(
            f"{f.get('kind')}: {f.get('message')}" for f in failures if isinstance(f, dict)))
        return cls(
            passed=bool(row["passed"]), pass_rate=float(row["pass_rate"]),
            cost_usd=_number(row.get("cost_usd")), latency_s=_number(row.get("latency_s")),
            output=row.get("output"), text=_text(row.get("text")), error=_text(row.get("error")),
            reasons=reasons,
        )  # fmt: skip

    @property
    def missed(self) -> bool:
        """The call found no recording: the case was never really run."""
        return bool(self.error and self.error.startswith(_MISS))

    def reason(self) -> str:
        """Why this side failed, in one line."""
        if self.error:
            return _one_line(f"model call failed: {self.error}")
        return _one_line("; ".join(self.reasons)) or ("passed" if self.passed else "failed")

    def shown(self) -> str:
        """The output as a reader compares it: pretty JSON, else the text."""
        if self.output is not None:
            return json.dumps(self.output, indent=2, ensure_ascii=False, sort_keys=True,
                              default=str)
        return self.text if self.text is not None else ""

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "pass_rate": self.pass_rate, "cost_usd": self.cost_usd,
                "latency_s": self.latency_s, "output": self.output, "text": self.text,
                "error": self.error, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class CaseComparison:
    """A case as both versions answered it."""

    suite: str
    case_id: str
    critical: bool
    baseline: Side
    candidate: Side

    @property
    def key(self) -> str:
        return f"{self.suite}::{self.case_id}"

    @property
    def flip(self) -> Flip | None:
        if self.baseline.passed and not self.candidate.passed:
            return "regression"
        if self.candidate.passed and not self.baseline.passed:
            return "improvement"
        return None

    @property
    def changed(self) -> bool:
        """The outputs differ (whether or not the verdict did)."""
        return self.baseline.shown() != self.candidate.shown()

    def reason(self) -> str:
        """One line: why it fails now (a regression), or what fixed it."""
        if self.flip == "improvement":
            return f"was: {self.baseline.reason()}"
        return self.candidate.reason()

    def as_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "case_id": self.case_id, "critical": self.critical,
                "flip": self.flip, "changed": self.changed,
                "baseline": self.baseline.as_dict(), "candidate": self.candidate.as_dict()}


@dataclass(frozen=True)
class Change:
    """A figure on both sides; `relative` is the candidate's change as a fraction."""

    baseline: float
    candidate: float

    @property
    def relative(self) -> float:
        if self.baseline == 0:
            return 0.0 if self.candidate == 0 else math.inf
        return (self.candidate - self.baseline) / self.baseline

    def as_dict(self) -> dict[str, Any]:
        rel = self.relative
        return {"baseline": self.baseline, "candidate": self.candidate,
                "relative": rel if math.isfinite(rel) else None}


@dataclass(frozen=True)
class Check:
    """One threshold and whether the candidate met it."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateReport:
    """The comparison of a candidate with a baseline, and the gate's verdict."""

    name: str
    baseline: VersionRef
    candidate: VersionRef
    thresholds: Thresholds
    cases: tuple[CaseComparison, ...]
    stats: PairedStats
    cost_usd: Change
    latency_p50_s: Change
    checks: tuple[Check, ...]
    errors: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def passed(self) -> bool:
        return not self.errors and all(c.passed for c in self.checks)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_ERROR
        return EXIT_PASS if self.passed else EXIT_REGRESSION

    @property
    def verdict(self) -> str:
        return "error" if self.errors else "pass" if self.passed else "regression"

    @property
    def regressions(self) -> list[CaseComparison]:
        return [c for c in self.cases if c.flip == "regression"]

    @property
    def improvements(self) -> list[CaseComparison]:
        return [c for c in self.cases if c.flip == "improvement"]

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def pass_counts(self) -> tuple[int, int]:
        """Cases passed by the baseline and by the candidate."""
        return (sum(c.baseline.passed for c in self.cases),
                sum(c.candidate.passed for c in self.cases))

    def as_dict(self, *, cases: bool = True) -> dict[str, Any]:
        """Everything in JSON-able form (the summary stored with a gate result omits cases)."""
        base_passed, cand_passed = self.pass_counts()
        t = self.thresholds
        out: dict[str, Any] = {
            "name": self.name, "verdict": self.verdict, "passed": self.passed,
            "exit_code": self.exit_code, "created_at": self.created_at.isoformat(),
            "baseline": self.baseline.as_dict(), "candidate": self.candidate.as_dict(),
            "suites": list(self.suites),
            "thresholds": {"margin": t.margin, "min_pass_rate": t.min_pass_rate,
                           "max_cost_increase": t.max_cost_increase,
                           "max_latency_increase": t.max_latency_increase,
                           "confidence": t.confidence},
            "cases": len(self.cases), "baseline_passed": base_passed,
            "candidate_passed": cand_passed, "stats": self.stats.as_dict(),
            "cost_usd": self.cost_usd.as_dict(), "latency_p50_s": self.latency_p50_s.as_dict(),
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail}
                       for c in self.checks],
            "errors": list(self.errors),
            "flips": [{"suite": c.suite, "case_id": c.case_id, "flip": c.flip,
                       "critical": c.critical, "reason": c.reason()}
                      for c in self.cases if c.flip],
        }  # fmt: skip
        if cases:
            out["case_results"] = [c.as_dict() for c in self.cases]
        return out


def compare(
    baseline: VersionRef, candidate: VersionRef,
    baseline_rows: Iterable[Mapping[str, Any]], candidate_rows: Iterable[Mapping[str, Any]],
    thresholds: Thresholds | None = None, *, resamples: int = RESAMPLES, seed: int = 0,
) -> GateReport:
    """Pair the rows by (suite, case id), compute the statistics, and apply the thresholds."""
    limits = thresholds or Thresholds()
    cases, errors = _pair(baseline_rows, candidate_rows)
    errors += _misses(cases, baseline, candidate)
    stats = paired_stats(
        [c.baseline.pass_rate for c in cases], [c.candidate.pass_rate for c in cases],
        baseline_passed=[c.baseline.passed for c in cases],
        candidate_passed=[c.candidate.passed for c in cases],
        confidence=limits.confidence, resamples=resamples, seed=seed,
    )  # fmt: skip
    cost = Change(sum(c.baseline.cost_usd for c in cases),
                  sum(c.candidate.cost_usd for c in cases))
    latency = Change(_median([c.baseline.latency_s for c in cases]),
                     _median([c.candidate.latency_s for c in cases]))
    if not cases:
        errors.append("no case to compare: the suites selected no case")
    checks = _checks(cases, stats, cost, latency, limits)
    return GateReport(
        name=candidate.name, baseline=baseline, candidate=candidate, thresholds=limits,
        cases=tuple(cases), stats=stats, cost_usd=cost, latency_p50_s=latency,
        checks=tuple(checks), errors=tuple(errors),
        suites=tuple(dict.fromkeys(c.suite for c in cases)),
    )  # fmt: skip


def _pair(baseline_rows: Iterable[Mapping[str, Any]],
          candidate_rows: Iterable[Mapping[str, Any]]) -> tuple[list[CaseComparison], list[str]]:
    base = {(str(r["suite"]), str(r["case_id"])): r for r in baseline_rows}
    cand = {(str(r["suite"]), str(r["case_id"])): r for r in candidate_rows}
    errors = [f"{s}::{c} has no {side} result: both versions must run the same cases"
              for side, (mine, other) in (("candidate", (base, cand)), ("baseline", (cand, base)))
              for s, c in mine if (s, c) not in other]
    cases = [CaseComparison(suite=s, case_id=c, critical=bool(row["critical"]),
                            baseline=Side.from_row(base[(s, c)]), candidate=Side.from_row(row))
             for (s, c), row in cand.items() if (s, c) in base]
    return cases, errors


def _misses(cases: Sequence[CaseComparison], baseline: VersionRef,
            candidate: VersionRef) -> list[str]:
    errors = []
    for ref, side in ((baseline, "baseline"), (candidate, "candidate")):
        missed = [c.key for c in cases if getattr(c, side).missed]
        if missed:
            shown = ", ".join(missed[:5]) + (f" and {len(missed) - 5} more" if len(missed) > 5
                                             else "")
            errors.append(f"{ref.ref}: {len(missed)} case(s) have no recording ({shown}); "
                          f"record them (--record once) or run with a live model")
    return errors


def _checks(cases: Sequence[CaseComparison], stats: PairedStats, cost: Change,
            latency: Change, limits: Thresholds) -> list[Check]:
    checks = [_non_inferiority(stats, limits), _critical(cases)]
    if limits.min_pass_rate is not None:
        rate = sum(c.candidate.passed for c in cases) / len(cases) if cases else 0.0
        checks.append(Check("min pass rate", rate >= limits.min_pass_rate,
                            f"candidate {rate:.1%}, minimum {limits.min_pass_rate:.1%}"))
    if limits.max_cost_increase is not None:
        checks.append(_increase("cost increase", cost, limits.max_cost_increase, _usd))
    if limits.max_latency_increase is not None:
        checks.append(_increase("p50 latency increase", latency, limits.max_latency_increase,
                                _ms))
    return checks


def _non_inferiority(stats: PairedStats, limits: Thresholds) -> Check:
    ok = stats.ci_low >= -limits.margin - 1e-12
    detail = (f"diff {_pts(stats.diff)}, {limits.confidence:.0%} CI "
              f"[{_pts(stats.ci_low)}, {_pts(stats.ci_high)}]; lower bound "
              f"{'at or above' if ok else 'below'} -{limits.margin * 100:g} pts")
    return Check("non-inferiority", ok, detail)


def _critical(cases: Sequence[CaseComparison]) -> Check:
    flipped = [c.key for c in cases if c.critical and c.flip == "regression"]
    critical = sum(c.critical for c in cases)
    if flipped:
        return Check("critical cases", False, f"critical case(s) now fail: {', '.join(flipped)}")
    return Check("critical cases", True, f"none of {critical} critical case(s) flipped to fail")


def _increase(name: str, change: Change, limit: float, unit: Any) -> Check:
    rel = change.relative
    shown = "+inf" if math.isinf(rel) else f"{rel:+.1%}"
    return Check(name, rel <= limit + 1e-12,
                 f"{unit(change.baseline)} -> {unit(change.candidate)} ({shown}), "
                 f"limit +{limit:.0%}")


def _pts(fraction: float) -> str:
    return f"{fraction * 100:+.1f} pts"


def _usd(value: float) -> str:
    return f"${value:.4f}"


def _ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
