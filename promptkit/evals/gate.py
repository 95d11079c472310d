"""The gate's verdict: two versions compared case by case, with the evidence of re-sampling.

Pure: rows in (from `CaseResult.row()`: each version's first answer to each case), plus the
`Outcome` of the sequential comparison (`sequential.decide`) and the evidence it gathered,
a `GateReport` out. Where rows and re-samples come from is `gate_run`'s business. Rows
alone (no outcome) are compared as exact: each answer taken as the case's only possible one.

Checks, each reported with its figures:
- pass-rate difference: pass when non-inferiority is shown (the lower bound of the
  candidate − baseline difference is above −margin), regression when inferiority is shown
  (the upper bound is below 0), inconclusive when the budget ran out first;
- critical cases: a critical case that flipped is re-sampled and fails the gate only when
  its own fresh answers show it broken (exact sign test);
- minimum pass rate of the candidate (off unless given);
- cost and p50 latency increases, relative to the baseline (off unless given).
A case whose call found no recording (a replay miss) makes the comparison invalid: that is
an error (exit 2), not a regression.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from promptkit.errors import UsageError
from promptkit.evals.calibration import JudgeVerdicts
from promptkit.evals.figures import milliseconds, points, signed_percent, usd
from promptkit.evals.power import Power, power
from promptkit.evals.sequential import CaseEvidence, Design, Outcome, decide
from promptkit.evals.stats import mcnemar_exact
from promptkit.redact import Scrubber

__all__ = [
    "EXIT_ERROR",
    "EXIT_INCONCLUSIVE",
    "EXIT_PASS",
    "EXIT_REGRESSION",
    "CaseComparison",
    "Change",
    "Check",
    "Flip",
    "GateReport",
    "GateStats",
    "Side",
    "Thresholds",
    "VersionRef",
    "compare",
    "evidence_from_rows",
]

EXIT_PASS, EXIT_REGRESSION, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 1, 2, 3

Flip = Literal["regression", "improvement"]
Status = Literal["pass", "fail", "inconclusive"]

_MISS = "ReplayMissError"


@dataclass(frozen=True)
class Thresholds:
    """What the candidate must meet. Fractions: `margin=0.02` is 2 points of pass rate,
    `max_cost_increase=0.2` is +20% of the baseline's cost. `on_inconclusive`: what an
    inconclusive gate exits with (None: its own code, 3; "pass": 0; "fail": 1)."""

    margin: float = 0.02
    min_pass_rate: float | None = None
    max_cost_increase: float | None = None
    max_latency_increase: float | None = None
    confidence: float = 0.95
    on_inconclusive: Literal["pass", "fail"] | None = None

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
        if self.on_inconclusive not in (None, "pass", "fail"):
            raise UsageError(f"on_inconclusive is pass or fail, not {self.on_inconclusive!r}")


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
    """One version's result for one case: its first answer (output, reasons), and the pass
    rate that decides (over the fresh samples of a re-sampled case, else the first answer);
    `passed` means it passes more often than not."""

    passed: bool
    pass_rate: float
    cost_usd: float = 0.0
    latency_s: float = 0.0
    output: Any = None
    text: str | None = None
    error: str | None = None
    reasons: tuple[str, ...] = ()
    samples: int = 1

    @classmethod
    def from_row(cls, row: Mapping[str, Any], scrubber: Scrubber | None = None) -> Side:
        """From `CaseResult.row()` or a row of `ResultStore.frame()`, with anything shaped
        like a credential hidden (a report is shared: a PR comment, an uploaded file)."""
        clean = scrubber or Scrubber()
        failures = row.get("failures") or []
        reasons = tuple(dict.fromkeys(
            clean.text(f"{f.get('kind')}: {f.get('message')}") for f in failures
            if isinstance(f, dict)))
        passed = bool(row["passed"])
        text, error = _text(row.get("text")), _text(row.get("error"))
        return cls(
            passed=passed, pass_rate=float(passed), cost_usd=_number(row.get("cost_usd")),
            latency_s=_number(row.get("latency_s")), output=clean.data(row.get("output")),
            text=clean.text(text) if text is not None else None,
            error=clean.text(error) if error is not None else None, reasons=reasons,
        )  # fmt: skip

    def deciding(self, rate: float, samples: int) -> Side:
        """This side judged by `rate` over `samples` answers."""
        return Side(rate > 0.5, rate, self.cost_usd, self.latency_s, self.output, self.text,
                    self.error, self.reasons, samples)

    @property
    def missed(self) -> bool:
        """The call found no recording: the case was never really run."""
        return bool(self.error and self.error.startswith(_MISS))

    def tally(self) -> str:
        """`3/4`: answers that passed, of the answers that decide."""
        return f"{round(self.pass_rate * self.samples)}/{self.samples}"

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
        return {"passed": self.passed, "pass_rate": self.pass_rate, "samples": self.samples,
                "cost_usd": self.cost_usd, "latency_s": self.latency_s, "output": self.output,
                "text": self.text, "error": self.error, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class CaseComparison:
    """A case as both versions answered it: `first_flip` on the first pass, `flip` by the
    pass rates that decide. `resampled`: why it was sampled again (`flip`, `audit`, None);
    `exact`: its replayed answers cannot vary."""

    suite: str
    case_id: str
    critical: bool
    baseline: Side
    candidate: Side
    first_flip: Flip | None = None
    resampled: str | None = None
    exact: bool = False

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
    def held(self) -> bool:
        """A first-pass flip that re-sampling confirmed (False: it was noise)."""
        return self.first_flip is not None and self.first_flip == self.flip

    @property
    def changed(self) -> bool:
        """The outputs differ (whether or not the verdict did)."""
        return self.baseline.shown() != self.candidate.shown()

    def reason(self) -> str:
        """One line: why it fails now (a regression), or what fixed it."""
        if (self.flip or self.first_flip) == "improvement":
            return f"was: {self.baseline.reason()}"
        return self.candidate.reason()

    def as_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "case_id": self.case_id, "critical": self.critical,
                "flip": self.flip, "first_flip": self.first_flip, "held": self.held,
                "resampled": self.resampled, "exact": self.exact, "changed": self.changed,
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
    """One threshold and whether the candidate met it (`inconclusive`: not decided)."""

    name: str
    status: Status
    detail: str

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass(frozen=True)
class GateStats:
    """The figures of the comparison, all from the pass rates that decide. `diff` is the mean
    per-case difference (candidate − baseline) with its interval `ci_low`..`ci_high` at the
    last look; `p_value` is the exact McNemar test on the cases whose verdict flipped.
    `resampled` / `audited`: cases sampled again because they flipped / by the audit;
    `exact`: replayed cases whose answers cannot vary; `calls`: model calls of both sides,
    first pass included; `stopped`: why sampling ended (decided, budget, stages)."""

    cases: int
    baseline_rate: float
    candidate_rate: float
    diff: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    regressions: int
    improvements: int
    resampled: int = 0
    audited: int = 0
    exact: int = 0
    stages: int = 0
    calls: int = 0
    first_pass_calls: int = 0
    budget: int = 0
    stopped: str = "decided"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateReport:
    """The comparison of a candidate with a baseline, and the gate's verdict."""

    name: str
    baseline: VersionRef
    candidate: VersionRef
    thresholds: Thresholds
    cases: tuple[CaseComparison, ...]
    stats: GateStats
    power: Power
    cost_usd: Change
    latency_p50_s: Change
    checks: tuple[Check, ...]
    errors: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    judges: tuple[JudgeVerdicts, ...] = ()
    """The graded judges of the gated suites: their verdicts here and their calibration."""

    @property
    def verdict(self) -> str:
        """pass, regression, inconclusive or error."""
        if self.errors:
            return "error"
        if any(c.status == "fail" for c in self.checks):
            return "regression"
        return "inconclusive" if any(c.status == "inconclusive" for c in self.checks) else "pass"

    @property
    def passed(self) -> bool:
        """What promote may rely on: shown, or inconclusive under `--on-inconclusive pass`."""
        return self.exit_code == EXIT_PASS

    @property
    def exit_code(self) -> int:
        verdict = self.verdict
        if verdict == "inconclusive" and self.thresholds.on_inconclusive is not None:
            verdict = "pass" if self.thresholds.on_inconclusive == "pass" else "regression"
        return {"pass": EXIT_PASS, "regression": EXIT_REGRESSION, "error": EXIT_ERROR,
                "inconclusive": EXIT_INCONCLUSIVE}[verdict]

    @property
    def regressions(self) -> list[CaseComparison]:
        return [c for c in self.cases if c.flip == "regression"]

    @property
    def improvements(self) -> list[CaseComparison]:
        return [c for c in self.cases if c.flip == "improvement"]

    @property
    def flips(self) -> list[CaseComparison]:
        """Every case that flipped on the first pass or by the rates that decide."""
        return [c for c in self.cases if c.flip or c.first_flip]

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
        out: dict[str, Any] = {
            "name": self.name, "verdict": self.verdict, "passed": self.passed,
            "exit_code": self.exit_code, "created_at": self.created_at.isoformat(),
            "baseline": self.baseline.as_dict(), "candidate": self.candidate.as_dict(),
            "suites": list(self.suites), "thresholds": asdict(self.thresholds),
            "cases": len(self.cases), "baseline_passed": base_passed,
            "candidate_passed": cand_passed, "stats": self.stats.as_dict(),
            "power": self.power.as_dict(),
            "cost_usd": self.cost_usd.as_dict(), "latency_p50_s": self.latency_p50_s.as_dict(),
            "checks": [{"name": c.name, "status": c.status, "passed": c.passed,
                        "detail": c.detail} for c in self.checks],
            "errors": list(self.errors),
            "flips": [{"suite": c.suite, "case_id": c.case_id, "flip": c.flip or c.first_flip,
                       "held": c.held, "critical": c.critical, "reason": c.reason(),
                       "baseline": c.baseline.tally(), "candidate": c.candidate.tally()}
                      for c in self.flips],
        }  # fmt: skip
        if cases:
            out["case_results"] = [c.as_dict() for c in self.cases]
        return out


def evidence_from_rows(baseline_rows: Iterable[Mapping[str, Any]],
                       candidate_rows: Iterable[Mapping[str, Any]]
                       ) -> tuple[list[CaseEvidence], list[CaseComparison], list[str]]:
    """Pair the rows by (suite, case id): each case's first-pass evidence, its comparison,
    and the errors of cases one side lacks."""
    base = {(str(r["suite"]), str(r["case_id"])): r for r in baseline_rows}
    cand = {(str(r["suite"]), str(r["case_id"])): r for r in candidate_rows}
    errors = [f"{s}::{c} has no {side} result: both versions must run the same cases"
              for side, (mine, other) in (("candidate", (base, cand)), ("baseline", (cand, base)))
              for s, c in mine if (s, c) not in other]
    evidence, cases = [], []
    scrubber = Scrubber()
    for (s, c), row in cand.items():
        if (s, c) not in base:
            continue
        first = (float(bool(base[(s, c)]["passed"])), float(bool(row["passed"])))
        evidence.append(CaseEvidence(s, c, critical=bool(row["critical"]), first=first,
                                     pair_calls=2 * int(row.get("repeats") or 1)))
        cases.append(CaseComparison(s, c, bool(row["critical"]),
                                    Side.from_row(base[(s, c)], scrubber),
                                    Side.from_row(row, scrubber)))
    return evidence, cases, errors


def compare(
    baseline: VersionRef, candidate: VersionRef,
    baseline_rows: Iterable[Mapping[str, Any]], candidate_rows: Iterable[Mapping[str, Any]],
    thresholds: Thresholds | None = None, *,
    sampled: tuple[Sequence[CaseEvidence], Outcome] | None = None,
) -> GateReport:
    """The report of a comparison: `sampled` is the evidence and outcome of
    `sequential.decide` over the same rows; without it each first answer is taken as exact."""
    limits = thresholds or Thresholds()
    evidence, cases, errors = evidence_from_rows(baseline_rows, candidate_rows)
    if sampled is None:
        evidence, outcome = _exact(evidence, limits)
    else:
        evidence, outcome = list(sampled[0]), sampled[1]
    by_key = {e.key: e for e in evidence}
    cases = [_judged(c, by_key[c.key]) for c in cases if c.key in by_key]
    errors += _misses(cases, baseline, candidate)
    if not cases:
        errors.append("no case to compare: the suites selected no case")
    stats = _stats(cases, evidence, outcome, limits)
    cost = Change(sum(c.baseline.cost_usd for c in cases),
                  sum(c.candidate.cost_usd for c in cases))
    latency = Change(_median([c.baseline.latency_s for c in cases]),
                     _median([c.candidate.latency_s for c in cases]))
    return GateReport(
        name=candidate.name, baseline=baseline, candidate=candidate, thresholds=limits,
        cases=tuple(cases), stats=stats,
        power=power(evidence, outcome.final, margin=limits.margin, confidence=limits.confidence),
        cost_usd=cost, latency_p50_s=latency,
        checks=tuple(_checks(cases, stats, outcome, cost, latency, limits)),
        errors=tuple(errors), suites=tuple(dict.fromkeys(c.suite for c in cases)),
    )  # fmt: skip


def _exact(evidence: list[CaseEvidence], limits: Thresholds
           ) -> tuple[list[CaseEvidence], Outcome]:
    """Rows compared as they are: a case "sampled again" gives its first answers back."""

    def as_recorded(todo: Sequence[CaseEvidence], stage: int) -> tuple[int, float]:
        for case in todo:
            case.fresh.append(case.first)
            case.exact = True
        return 0, 0.0

    outcome = decide(evidence, Design(), as_recorded, margin=limits.margin,
                     confidence=limits.confidence,
                     first_pass_calls=sum(c.pair_calls for c in evidence))
    return evidence, outcome


def _judged(case: CaseComparison, evidence: CaseEvidence) -> CaseComparison:
    base, cand = evidence.rates()
    samples = len(evidence.fresh) if evidence.selected and evidence.fresh else 1
    first: Flip | None = None
    if evidence.first[0] > evidence.first[1]:
        first = "regression"
    elif evidence.first[1] > evidence.first[0]:
        first = "improvement"
    return CaseComparison(case.suite, case.case_id, case.critical,
                          case.baseline.deciding(base, samples),
                          case.candidate.deciding(cand, samples), first_flip=first,
                          resampled=evidence.selected, exact=evidence.exact)


def _stats(cases: Sequence[CaseComparison], evidence: Sequence[CaseEvidence],
           outcome: Outcome, limits: Thresholds) -> GateStats:
    n = len(cases)
    final = outcome.final
    regressions = sum(c.flip == "regression" for c in cases)
    improvements = sum(c.flip == "improvement" for c in cases)
    diff = final.diff if final else _mean([c.candidate.pass_rate - c.baseline.pass_rate
                                            for c in cases])
    return GateStats(
        cases=n, baseline_rate=_mean([c.baseline.pass_rate for c in cases]),
        candidate_rate=_mean([c.candidate.pass_rate for c in cases]), diff=diff,
        ci_low=final.low if final else -math.inf, ci_high=final.high if final else math.inf,
        confidence=limits.confidence, p_value=mcnemar_exact(regressions, improvements),
        regressions=regressions, improvements=improvements,
        resampled=sum(e.selected == "flip" for e in evidence),
        audited=sum(e.selected == "audit" for e in evidence),
        exact=sum(e.exact for e in evidence), stages=outcome.stages, calls=outcome.calls,
        first_pass_calls=outcome.first_pass_calls, budget=outcome.budget,
        stopped=outcome.stopped,
    )  # fmt: skip


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


def _checks(cases: Sequence[CaseComparison], stats: GateStats, outcome: Outcome, cost: Change,
            latency: Change, limits: Thresholds) -> list[Check]:
    checks = [_difference(stats, outcome, limits), _critical(cases, outcome)]
    if limits.min_pass_rate is not None:
        rate = stats.candidate_rate
        checks.append(Check("min pass rate", _status(rate >= limits.min_pass_rate),
                            f"candidate {rate:.1%}, minimum {limits.min_pass_rate:.1%}"))
    if limits.max_cost_increase is not None:
        checks.append(_increase("cost increase", cost, limits.max_cost_increase, usd))
    if limits.max_latency_increase is not None:
        checks.append(_increase("p50 latency increase", latency, limits.max_latency_increase,
                                milliseconds))
    return checks


def _difference(stats: GateStats, outcome: Outcome, limits: Thresholds) -> Check:
    interval = (f"diff {points(stats.diff)}, {limits.confidence:.0%} CI "
                f"[{points(stats.ci_low)}, {points(stats.ci_high)}]")
    final = outcome.final
    margin = f"-{limits.margin * 100:g} pts"
    if final is not None and final.verdict == "pass":
        return Check("non-inferiority", "pass", f"{interval}; shown within {margin}")
    if final is not None and final.verdict == "regression":
        return Check("non-inferiority", "fail", f"{interval}; shown worse than the baseline")
    why = ("the call budget ran out" if outcome.stopped == "budget"
           else "the re-sampling stages ran out")
    return Check("non-inferiority", "inconclusive",
                 f"{interval}; neither within {margin} nor worse shown: {why}")


def _critical(cases: Sequence[CaseComparison], outcome: Outcome) -> Check:
    states = outcome.critical
    broken = [k for k, s in states.items() if s == "broken"]
    open_ = [k for k, s in states.items() if s == "open"]
    critical = sum(c.critical for c in cases)
    if broken:
        return Check("critical cases", "fail", f"critical case(s) now fail: {', '.join(broken)}")
    if open_:
        return Check("critical cases", "inconclusive",
                     f"critical case(s) flipped and are not yet shown fixed or broken: "
                     f"{', '.join(open_)}")
    noise = len(states)
    return Check("critical cases", "pass", f"none of {critical} critical case(s) broke"
                 + (f" ({noise} flipped, and re-sampling cleared them)" if noise else ""))


def _status(ok: bool) -> Status:
    return "pass" if ok else "fail"


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def _increase(name: str, change: Change, limit: float, unit: Any) -> Check:
    rel = change.relative
    return Check(name, _status(rel <= limit + 1e-12),
                 f"{unit(change.baseline)} -> {unit(change.candidate)} "
                 f"({signed_percent(rel)}), "
                 f"limit +{limit:.0%}")


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
