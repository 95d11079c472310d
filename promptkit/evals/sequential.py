"""The gate's sequential design: which cases to sample again, and when the evidence decides.

One pass answers every case once per version. Answers vary between calls, so a case whose
two answers disagree (a flip) may be noise. The cases that flipped, plus a seeded random
audit of the cases that agreed, are **selected** and sampled again, both versions, one
*stage* (one fresh pair per selected case) at a time. After each stage the gate *looks*:

- the estimate is the pass-rate difference (candidate − baseline) over all cases, where a
  selected case scores its **fresh** samples only (they are independent of the first pass
  that selected it, so the selection cannot bias them: Cox 1975, data splitting) and a case
  that agreed and was not audited scores the agreement it showed (0);
- its interval uses the per-case sample variances of the fresh differences;
- each look spends part of the error rate: a power-family spending function
  alpha(t) = alpha * (t / max_stages) ** rho (Lan & DeMets 1983; Kim & DeMets 1987), with the
  looks combined by Bonferroni, so the error rate holds however the looks correlate and
  whenever the gate stops.

Verdicts: **pass** when the lower bound is above -margin, **regression** when the upper
bound is below 0, **inconclusive** when the stages or the call budget run out first. A
critical case that flipped is judged on its own fresh pairs with an exact sign test.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal

from promptkit.evals.stats import half_binomial_cdf

__all__ = [
    "CaseEvidence",
    "CriticalState",
    "Design",
    "Look",
    "Outcome",
    "Sampler",
    "Verdict",
    "critical_state",
    "decide",
    "look",
    "select",
    "sign_test",
]

Verdict = Literal["pass", "regression", "inconclusive"]
CriticalState = Literal["broken", "cleared", "open"]

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Design:
    """How the gate samples. `audit`: the share of agreeing cases sampled again anyway (so a
    change that shows only sometimes is still seen); `max_stages`: fresh pairs per selected
    case at most; `spending`: rho of the spending function (2 spends little on early looks);
    `max_calls` / `max_cost`: the budget (None: `budget_passes` times one pass, no cost cap);
    `seed`: the audit's draw, so a gate is reproducible."""

    audit: float = 0.05
    max_stages: int = 8
    spending: float = 2.0
    max_calls: int | None = None
    max_cost: float | None = None
    budget_passes: float = 3.0
    critical_stages: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.audit <= 1:
            raise ValueError(f"audit is a share of the agreeing cases (0-1), not {self.audit}")
        if self.max_stages < 1 or self.critical_stages < self.max_stages:
            raise ValueError("max_stages must be at least 1 and at most critical_stages")

    def spent(self, stage: int) -> float:
        """The share of the error rate spent by the looks up to `stage`."""
        return min(1.0, stage / self.max_stages) ** self.spending

    def budget(self, first_pass_calls: int) -> int:
        return (self.max_calls if self.max_calls is not None
                else math.ceil(self.budget_passes * first_pass_calls))


@dataclass
class CaseEvidence:
    """One case's scores (a version's pass rate over the case's repeats, 0..1): the first
    pass, then the fresh pairs of the stages. `exact`: its answers are replayed from a
    recording that holds one answer, so sampling again cannot change them. `pair_calls`:
    the model calls one fresh pair costs (2 × the suite's repeats)."""

    suite: str
    case_id: str
    critical: bool = False
    threshold: float = 1.0
    first: tuple[float, float] = (0.0, 0.0)
    fresh: list[tuple[float, float]] = field(default_factory=list)
    selected: Literal["flip", "audit"] | None = None
    exact: bool = False
    pair_calls: int = 2

    @property
    def key(self) -> str:
        return f"{self.suite}::{self.case_id}"

    @property
    def flipped(self) -> bool:
        return self.first[0] != self.first[1]

    def rates(self) -> tuple[float, float]:
        """The pass rates that decide: the fresh samples' once there are any."""
        samples = self.fresh if self.selected and self.fresh else [self.first]
        return (sum(b for b, _ in samples) / len(samples),
                sum(c for _, c in samples) / len(samples))

    def diff(self) -> float:
        base, cand = self.rates()
        return cand - base

    def variance(self) -> float | None:
        """The variance of this case's mean fresh difference (None: not yet estimable)."""
        if not self.selected or self.exact:
            return 0.0
        if len(self.fresh) < 2:
            return None
        diffs = [c - b for b, c in self.fresh]
        mean = sum(diffs) / len(diffs)
        return sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs)


@dataclass(frozen=True)
class Look:
    """The estimate after a stage: difference, standard error, the bounds at the error rate
    spent on this look, and the verdict they give (None: keep sampling)."""

    stage: int
    diff: float
    se: float
    low: float
    high: float
    alpha: float
    verdict: Verdict | None


def select(cases: Sequence[CaseEvidence], audit: float, seed: int) -> None:
    """Mark the cases to sample again: every flip, and a seeded share of the rest."""
    agreed = [c for c in cases if not c.flipped]
    count = round(audit * len(agreed))
    if audit > 0 and agreed:
        count = max(count, 1)
    for case in cases:
        case.selected = "flip" if case.flipped else None
    for case in random.Random(seed).sample(agreed, count):
        case.selected = "audit"


def look(cases: Sequence[CaseEvidence], design: Design, *, margin: float, confidence: float,
         stage: int, previous: int) -> Look | None:
    """The look after `stage` (None while a selected case lacks the two fresh pairs its
    variance needs). `previous`: the stage of the last look, whose spending is used up."""
    variances = [c.variance() for c in cases]
    if any(v is None for v in variances):
        return None
    n = len(cases)
    diff = sum(c.diff() for c in cases) / n if n else 0.0
    se = math.sqrt(sum(v for v in variances if v is not None)) / n if n else 0.0
    alpha = (1 - confidence) / 2 * (design.spent(stage) - design.spent(previous))
    z = _NORMAL.inv_cdf(1 - alpha) if alpha > 0 else math.inf
    low, high = (diff, diff) if se == 0 else (diff - z * se, diff + z * se)
    verdict: Verdict | None = None
    if low > -margin - 1e-12:
        verdict = "pass"
    elif high < 0:
        verdict = "regression"
    return Look(stage, diff, se, low, high, alpha, verdict)


def critical_state(case: CaseEvidence, alpha: float) -> CriticalState:
    """A critical case that flipped, judged on its fresh pairs: `broken` when the candidate
    loses significantly more pairs than it wins (exact sign test), `cleared` when the pairs
    rule out a candidate that loses half of them, else `open`. An exact case is decided by
    its one answer."""
    if not case.selected:
        return "cleared"
    base, cand = case.rates()
    if case.exact:
        return "broken" if cand < base else "cleared"
    losses = sum(c < b for b, c in case.fresh)
    wins = sum(c > b for b, c in case.fresh)
    if losses > wins and sign_test(losses, wins) <= alpha:
        return "broken"
    if case.fresh and half_binomial_cdf(losses, len(case.fresh)) <= alpha:
        return "cleared"
    return "open"


def sign_test(losses: int, wins: int) -> float:
    """One-sided exact sign test: P(at least `losses` of the discordant pairs | a fair coin)."""
    n = losses + wins
    if n == 0:
        return 1.0
    return 1 - half_binomial_cdf(losses - 1, n) if losses > 0 else 1.0


Sampler = Callable[[Sequence[CaseEvidence], int], tuple[int, float]]
"""Draws one fresh pair for each case given (appending to its `fresh`, or marking it
`exact`) at a stage; returns the model calls made and their cost."""


@dataclass
class Outcome:
    """How a sequential comparison ended: its verdict, every look, what it spent, and why it
    stopped (`decided`, `budget` or `stages`)."""

    verdict: Verdict
    looks: list[Look]
    stages: int
    calls: int
    first_pass_calls: int
    budget: int
    cost_usd: float
    stopped: str
    critical: dict[str, CriticalState]

    @property
    def final(self) -> Look | None:
        return self.looks[-1] if self.looks else None


def decide(cases: Sequence[CaseEvidence], design: Design, sample: Sampler, *, margin: float,
           confidence: float, first_pass_calls: int, first_pass_cost: float = 0.0) -> Outcome:
    """Select, then sample stage by stage until a look decides, a critical case is shown
    broken, or the stages or the budget run out (inconclusive)."""
    select(cases, design.audit, design.seed)
    run = _Run(cases, design, margin, confidence, first_pass_calls,
               calls=first_pass_calls, cost=first_pass_cost)
    run.look()
    while (todo := run.todo()) is not None:
        if not run.affordable(todo):
            run.stopped = "budget"
            break
        calls, cost = sample(todo, run.stage + 1)
        run.stage, run.calls, run.cost = run.stage + 1, run.calls + calls, run.cost + cost
        run.look()
    return run.outcome()


@dataclass
class _Run:
    cases: Sequence[CaseEvidence]
    design: Design
    margin: float
    confidence: float
    first_pass_calls: int
    calls: int
    cost: float
    stage: int = 0
    previous: int = 0
    looks: list[Look] = field(default_factory=list)
    stopped: str = "stages"

    @property
    def alpha(self) -> float:
        return (1 - self.confidence) / 2

    @property
    def decided(self) -> Verdict | None:
        return self.looks[-1].verdict if self.looks else None

    def look(self) -> None:
        if self.decided is not None:
            return  # the estimate is settled; later stages only judge critical cases
        found = look(self.cases, self.design, margin=self.margin, confidence=self.confidence,
                     stage=self.stage, previous=self.previous)
        if found is not None:
            self.looks.append(found)
            self.previous = self.stage

    def critical(self) -> dict[str, CriticalState]:
        return {c.key: critical_state(c, self.alpha) for c in self.cases
                if c.critical and c.selected}

    def todo(self) -> list[CaseEvidence] | None:
        """The cases to sample at the next stage; None when the comparison is over."""
        states = self.critical()
        if "broken" in states.values() or self.decided == "regression":
            self.stopped = "decided"
            return None
        if self.decided == "pass":
            todo = [c for c in self.cases if states.get(c.key) == "open" and not c.exact]
            limit = self.design.critical_stages
        else:
            todo = [c for c in self.cases if c.selected and not c.exact]
            limit = self.design.max_stages
        if not todo:
            self.stopped = "decided" if self.decided == "pass" else "stages"
            return None
        return todo if self.stage < limit else None

    def affordable(self, todo: Sequence[CaseEvidence]) -> bool:
        need = sum(c.pair_calls for c in todo)
        if self.calls + need > self.design.budget(self.first_pass_calls):
            return False
        max_cost = self.design.max_cost
        per_call = self.cost / self.calls if self.calls else 0.0
        return max_cost is None or self.cost + need * per_call <= max_cost

    def outcome(self) -> Outcome:
        states = self.critical()
        verdict: Verdict = "inconclusive"
        if "broken" in states.values() or self.decided == "regression":
            verdict = "regression"
        elif self.decided == "pass" and all(s == "cleared" for s in states.values()):
            verdict = "pass"
        return Outcome(verdict, self.looks, self.stage, self.calls, self.first_pass_calls,
                       self.design.budget(self.first_pass_calls), self.cost, self.stopped,
                       states)
