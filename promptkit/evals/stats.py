"""Paired statistics for two versions run on the same cases: exact McNemar, paired bootstrap.

Both versions answer the same cases, so the comparison is paired: what matters is how
each case changed, not two independent pass rates. No scipy: the McNemar p-value is an
exact binomial tail over the discordant cases, and the confidence interval of the
pass-rate difference is a percentile bootstrap over the cases, resampled with a seeded
numpy generator so a gate gives the same verdict every time it runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "EXACT_INTEGERS_UP_TO",
    "RESAMPLES",
    "PairedStats",
    "bootstrap_mean_ci",
    "mcnemar_exact",
    "paired_stats",
]

RESAMPLES = 10_000
"""Bootstrap resamples: the interval's ends move by well under a point between seeds."""

EXACT_INTEGERS_UP_TO = 20_000
"""Discordant pairs up to which the McNemar tail is summed in exact integers (~0.1 s);
beyond, in log space."""


@dataclass(frozen=True)
class PairedStats:
    """Baseline vs candidate over the same cases.

    `diff` is the mean of the per-case differences (candidate − baseline) of the pass
    rates (a case's share of passing repeats; 0 or 1 without repeats), with its bootstrap
    interval `ci_low`..`ci_high`. `p_value` is the exact McNemar test on the cases whose
    verdict flipped: `regressions` (pass → fail) against `improvements` (fail → pass).
    """

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(regressions: int, improvements: int) -> float:
    """Two-sided exact McNemar p-value: the binomial(n, ½) tail of the discordant pairs.

    With no discordant pair there is no evidence of a difference: p = 1.
    """
    if regressions < 0 or improvements < 0:
        raise ValueError("counts of discordant pairs cannot be negative")
    n = regressions + improvements
    if n == 0:
        return 1.0
    smaller = min(regressions, improvements)
    if n > EXACT_INTEGERS_UP_TO:
        return min(1.0, 2 * _log_space_tail(n, smaller))
    term = tail = 1  # C(n, 0); each next term from the last one, in exact integers
    for k in range(smaller):
        term = term * (n - k) // (k + 1)
        tail += term
    return min(1.0, 2 * tail / 2**n)


def _log_space_tail(n: int, upto: int) -> float:
    """P(X <= upto) for X ~ Binomial(n, 1/2), summed in log space (relative error ~1e-10)."""
    logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
            for k in range(upto + 1)]
    top = max(logs)
    return math.exp(top) * sum(math.exp(v - top) for v in logs)


def bootstrap_mean_ci(
    values: Sequence[float], *, confidence: float = 0.95, resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (per-case differences).

    Resampling n cases with replacement only changes how many times each distinct value
    is drawn, so each resample is one multinomial draw over the distinct values: exact,
    and as cheap for 100,000 cases as for 40. All values equal (no case changed): the
    interval is that value at both ends.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return 0.0, 0.0
    distinct, counts = np.unique(data, return_counts=True)
    if distinct.size == 1:
        return float(distinct[0]), float(distinct[0])
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(data.size, counts / data.size, size=resamples)
    means = draws @ distinct / data.size
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def paired_stats(
    baseline: Sequence[float], candidate: Sequence[float], *,
    baseline_passed: Sequence[bool] | None = None, candidate_passed: Sequence[bool] | None = None,
    confidence: float = 0.95, resamples: int = RESAMPLES, seed: int = 0,
) -> PairedStats:
    """Compare per-case pass rates (same cases, same order).

    The verdicts that count as flips default to "rate is 1"; give `*_passed` when a case
    passes at a threshold below every repeat.
    """
    if len(baseline) != len(candidate):
        raise ValueError(f"paired samples differ in length: {len(baseline)} != {len(candidate)}")
    base_ok = list(baseline_passed) if baseline_passed is not None else [r >= 1 for r in baseline]
    cand_ok = (list(candidate_passed) if candidate_passed is not None
               else [r >= 1 for r in candidate])
    diffs = [c - b for b, c in zip(baseline, candidate, strict=True)]
    low, high = bootstrap_mean_ci(diffs, confidence=confidence, resamples=resamples, seed=seed)
    regressions = sum(b and not c for b, c in zip(base_ok, cand_ok, strict=True))
    improvements = sum(c and not b for b, c in zip(base_ok, cand_ok, strict=True))
    n = len(diffs)
    return PairedStats(
        cases=n, baseline_rate=_mean(baseline), candidate_rate=_mean(candidate),
        diff=_mean(diffs), ci_low=low, ci_high=high, confidence=confidence,
        p_value=mcnemar_exact(regressions, improvements), regressions=regressions,
        improvements=improvements,
    )  # fmt: skip


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if len(values) else 0.0
