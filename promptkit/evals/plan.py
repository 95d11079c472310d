"""`promptkit gate --plan`: what a gate will cost and what it can see, before anything is
spent. The baseline's stored answers give each case's pass rate (its noise); the gate's own
sequential design (`sequential.decide`) is then run many times on simulated answers: an
unchanged candidate, one that breaks `effect` of the cases, and one that fails twice as
many cases half of the time."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from promptkit.evals.power import disagreement
from promptkit.evals.sequential import CaseEvidence, Design, decide

__all__ = ["Plan", "Scenario", "plan_gate"]


@dataclass(frozen=True)
class Scenario:
    """One simulated candidate: how often the gate passed it, called it a regression, or ran
    out of budget, and its mean calls as a multiple of one pass over both versions."""

    name: str
    passed: float
    regression: float
    inconclusive: float
    calls: float

    def line(self) -> str:
        return (f"{self.name:<44} pass {self.passed:6.1%}  regression {self.regression:6.1%}  "
                f"inconclusive {self.inconclusive:6.1%}  calls {self.calls:.2f}× one pass")


@dataclass(frozen=True)
class Plan:
    cases: int
    samples: int
    noise: float | None
    scenarios: tuple[Scenario, ...]

    def lines(self) -> list[str]:
        noise = ("unknown (one stored answer per case: the simulation assumes none; gate "
                 "once with a live model to measure it)" if self.noise is None
                 else f"{self.noise:.1%} of pairs of answers to the same case disagree")
        return [f"{self.cases} cases, {self.samples} stored answers of the baseline; "
                f"noise: {noise}", *(s.line() for s in self.scenarios)]


def plan_gate(rates: Sequence[tuple[int, int]], *, effect: float, margin: float,
              confidence: float, design: Design, trials: int = 200, seed: int = 0) -> Plan:
    """`rates`: each case's stored (passes, answers) for the baseline."""
    base = [(k + 0.0) / n for k, n in rates]
    n_cases = len(base)
    broken = max(1, round(effect * n_cases))
    order = sorted(range(n_cases), key=lambda i: -base[i])
    drop = list(base)
    for i in order[:broken]:
        drop[i] = 0.0
    flaky = list(base)
    for i in order[:2 * broken]:
        flaky[i] = base[i] / 2
    rng = random.Random(seed)
    scenarios = (
        _scenario("unchanged candidate", base, base, margin, confidence, design, trials, rng),
        _scenario(f"breaks {broken} case(s) ({effect:.0%})", base, drop, margin, confidence,
                  design, trials, rng),
        _scenario(f"fails {2 * broken} case(s) half the time", base, flaky, margin,
                  confidence, design, trials, rng),
    )
    return Plan(n_cases, sum(n for _, n in rates), disagreement(rates), scenarios)


def _scenario(name: str, base: list[float], cand: list[float], margin: float,
              confidence: float, design: Design, trials: int, rng: random.Random) -> Scenario:
    counts = {"pass": 0, "regression": 0, "inconclusive": 0}
    calls = 0
    for trial in range(trials):
        cases = [CaseEvidence("s", str(i), first=_pair(b, c, rng))
                 for i, (b, c) in enumerate(zip(base, cand, strict=True))]

        def sample(todo: Sequence[CaseEvidence], stage: int) -> tuple[int, float]:
            for case in todo:
                i = int(case.case_id)
                case.fresh.append(_pair(base[i], cand[i], rng))
            return 2 * len(todo), 0.0

        outcome = decide(cases, _reseeded(design, trial), sample, margin=margin,
                         confidence=confidence, first_pass_calls=2 * len(cases))
        counts[outcome.verdict] += 1
        calls += outcome.calls
    one_pass = 2 * len(base) * trials
    return Scenario(name, counts["pass"] / trials, counts["regression"] / trials,
                    counts["inconclusive"] / trials, calls / one_pass if one_pass else 0.0)


def _pair(b: float, c: float, rng: random.Random) -> tuple[float, float]:
    return float(rng.random() < b), float(rng.random() < c)


def _reseeded(design: Design, trial: int) -> Design:
    return replace(design, seed=design.seed + trial)
