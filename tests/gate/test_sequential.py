"""The sequential design on simulated answers: its error rates, its calls, its looks, and
critical cases judged on their own evidence. Seeded: every figure is the same each run.

The must-shows of the noisy gate at the level of the statistics (200 cases, answers wrong
at random with p = 0.05, defaults); `benchmarks/gate_noise.py` measures the same through a
server on 127.0.0.1 and the whole gate."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import pytest

from promptkit.evals.plan import plan_gate
from promptkit.evals.power import noise, power
from promptkit.evals.sequential import (
    CaseEvidence,
    Design,
    Outcome,
    critical_state,
    decide,
    select,
    sign_test,
)

N, P = 200, 0.05


def rates(p: float = P, *, broken: int = 0, flaky: int = 0) -> tuple[list[float], list[float]]:
    """Baseline and candidate pass probabilities per case: right unless noise strikes; the
    candidate wrong on `broken` cases always and on `flaky` more cases half of the time."""
    base = [1 - p] * N
    cand = [0.0] * broken + [(1 - p) / 2] * flaky + [1 - p] * (N - broken - flaky)
    return base, cand


def gate(base: Sequence[float], cand: Sequence[float], seed: int,
         design: Design | None = None, critical: Sequence[int] = ()) -> Outcome:
    rng = random.Random(seed)
    cases = [CaseEvidence("s", str(i), critical=i in critical,
                          first=(float(rng.random() < b), float(rng.random() < c)))
             for i, (b, c) in enumerate(zip(base, cand, strict=True))]

    def sample(todo: Sequence[CaseEvidence], stage: int) -> tuple[int, float]:
        for case in todo:
            i = int(case.case_id)
            case.fresh.append((float(rng.random() < base[i]), float(rng.random() < cand[i])))
        return 2 * len(todo), 0.0

    return decide(cases, replace(design or Design(), seed=seed), sample, margin=0.02,
                  confidence=0.95, first_pass_calls=2 * len(cases))


def trials(base: Sequence[float], cand: Sequence[float], count: int = 200
           ) -> tuple[Counter[str], float]:
    outcomes = [gate(base, cand, seed) for seed in range(count)]
    calls = sum(o.calls for o in outcomes) / count / (2 * N)
    return Counter(o.verdict for o in outcomes), calls


def test_an_unchanged_candidate_passes_at_little_more_than_one_pass() -> None:
    verdicts, calls = trials(*rates())
    assert verdicts["pass"] >= 0.95 * 200, verdicts  # measured: 200 of 200
    assert calls <= 1.5, calls  # measured: 1.33


def test_a_candidate_broken_on_ten_cases_is_caught() -> None:
    verdicts, calls = trials(*rates(broken=10))
    assert verdicts["regression"] >= 0.95 * 200, verdicts
    assert calls <= 3.0, calls


def test_a_candidate_failing_twenty_cases_half_the_time_is_caught() -> None:
    verdicts, calls = trials(*rates(flaky=20))
    assert verdicts["regression"] >= 0.90 * 200, verdicts
    assert calls <= 3.0, calls


def test_a_better_candidate_is_never_called_a_regression() -> None:
    base, _ = rates()
    better = [1.0] * N
    worse_base = [0.0] * 10 + base[10:]  # the candidate fixes ten cases the baseline breaks
    for b, c in ((base, better), (worse_base, base)):
        verdicts, _ = trials(b, c, count=100)
        assert verdicts["regression"] == 0, verdicts


def test_without_noise_only_the_flips_are_sampled_and_the_verdict_is_exact() -> None:
    within = gate(*rates(0.0, broken=3), seed=1)  # -1.5 pts: worse, but within the margin
    assert within.verdict == "pass" and within.final is not None
    assert within.final.diff == within.final.low == -3 / N
    outcome = gate(*rates(0.0, broken=5), seed=1)  # -2.5 pts
    assert outcome.verdict == "regression"
    final = outcome.final
    assert final is not None and final.diff == final.low == final.high == -5 / N
    same = gate(*rates(0.0), seed=1)
    assert same.verdict == "pass" and same.final is not None and same.final.se == 0


def test_the_looks_spend_at_most_the_stated_error_rate() -> None:
    design = Design()
    outcome = gate(*rates(0.3), seed=3, design=replace(design, budget_passes=100))
    spent = sum(look.alpha for look in outcome.looks)
    assert outcome.stages == design.max_stages or outcome.verdict != "inconclusive"
    assert spent <= 0.025 + 1e-12
    assert [look.stage for look in outcome.looks] == sorted({look.stage for look in outcome.looks})


def test_a_budget_that_runs_out_is_inconclusive_not_a_regression() -> None:
    outcome = gate(*rates(0.2), seed=2, design=Design(max_calls=2 * N + 10))
    assert outcome.verdict == "inconclusive" and outcome.stopped == "budget"
    assert outcome.calls <= 2 * N + 10


def test_the_audit_samples_a_seeded_share_of_the_agreeing_cases() -> None:
    cases = [CaseEvidence("s", str(i), first=(1.0, float(i != 0))) for i in range(101)]
    select(cases, audit=0.05, seed=7)
    reasons = Counter(c.selected for c in cases)
    assert reasons == Counter({None: 95, "audit": 5, "flip": 1})
    again = [CaseEvidence("s", str(i), first=(1.0, float(i != 0))) for i in range(101)]
    select(again, audit=0.05, seed=7)
    assert [c.selected for c in again] == [c.selected for c in cases]


def test_one_noisy_answer_never_breaks_a_critical_case_and_a_real_break_always_does() -> None:
    noisy = CaseEvidence("s", "c", critical=True, first=(1.0, 0.0), selected="flip",
                         fresh=[(1.0, 1.0)] * 5 + [(1.0, 0.0)] + [(1.0, 1.0)] * 3)
    assert critical_state(noisy, 0.025) == "cleared"
    broken = CaseEvidence("s", "c", critical=True, first=(1.0, 0.0), selected="flip",
                          fresh=[(1.0, 0.0)] * 6)
    assert critical_state(broken, 0.025) == "broken"
    assert critical_state(replace(broken, fresh=[(1.0, 0.0)] * 3), 0.025) == "open"
    assert sign_test(6, 0) == pytest.approx(1 / 64)
    base, cand = rates(0.0, broken=1)
    assert gate(base, cand, seed=0, critical=[0]).verdict == "regression"
    verdicts = Counter(gate(*rates(0.1), seed=s, critical=range(N)).verdict for s in range(50))
    assert verdicts["regression"] <= 2, verdicts  # every case critical, 10% noise


def test_the_report_states_noise_and_what_it_could_detect() -> None:
    base, cand = rates(0.1)
    rng = random.Random(5)
    cases = [CaseEvidence("s", str(i), first=(float(rng.random() < b), float(rng.random() < c)))
             for i, (b, c) in enumerate(zip(base, cand, strict=True))]

    def sample(todo: Sequence[CaseEvidence], stage: int) -> tuple[int, float]:
        for case in todo:
            case.fresh.append((float(rng.random() < 0.9), float(rng.random() < 0.9)))
        return 2 * len(todo), 0.0

    outcome = decide(cases, Design(seed=5), sample, margin=0.02, confidence=0.95,
                     first_pass_calls=2 * N)
    stated = power(cases, outcome.final, margin=0.02, confidence=0.95)
    measured = noise(cases, 0)
    assert measured is not None and 0.1 < measured < 0.3  # 2 × 0.9 × 0.1 = 0.18
    assert stated.detectable is not None and 0 < stated.detectable < 0.05
    assert stated.drift_samples is not None and stated.drift_samples > 10


def test_the_plan_simulates_the_same_design_from_stored_rates() -> None:
    stored = [(3, 3)] * 190 + [(2, 3)] * 10  # a few cases the baseline sometimes fails
    plan = plan_gate(stored, effect=0.05, margin=0.02, confidence=0.95, design=Design(),
                     trials=60)
    unchanged, broken, flaky = plan.scenarios
    assert unchanged.passed >= 0.9 and unchanged.calls < 1.6
    assert broken.regression >= 0.9 and broken.name.startswith("breaks 10 case(s)")
    assert flaky.name.startswith("fails 20 case(s) half the time")
    assert plan.noise == pytest.approx(20 / (200 * 3))
    assert "unchanged candidate" in plan.lines()[1]
