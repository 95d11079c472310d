"""Paired statistics: exact McNemar against hand-computed tails, the bootstrap's interval
against the textbook resampling loop, and the small-n cases the gate's defaults rely on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from promptkit.evals import stats as stats_module
from promptkit.evals.stats import bootstrap_mean_ci, mcnemar_exact, paired_stats


@pytest.mark.parametrize(("b", "c", "expected"), [
    (0, 0, 1.0),
    (3, 0, 0.25),                      # 2 * (1/2)**3
    (5, 1, 2 * (1 + 6) / 64),          # 2 * P(X <= 1), X ~ Bin(6, 1/2)
    (1, 5, 2 * (1 + 6) / 64),          # symmetric
    (4, 4, 1.0),                       # capped at 1
    (40, 0, 2 / 2**40),
])
def test_mcnemar_exact_is_the_two_sided_binomial_tail(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_stays_fast_and_agrees_across_its_two_summations() -> None:
    exact = mcnemar_exact(9000, 9400)  # integers
    assert 0 < exact < 0.05
    assert stats_module._log_space_tail(18400, 9000) * 2 == pytest.approx(exact, rel=1e-8)
    huge = mcnemar_exact(500_000, 501_500)  # log space
    assert 0 < huge < 1 and math.isfinite(huge)


def test_no_discordant_case_gives_a_zero_width_interval() -> None:
    stats = paired_stats([1.0] * 40, [1.0] * 40)
    assert (stats.diff, stats.ci_low, stats.ci_high, stats.p_value) == (0.0, 0.0, 0.0, 1.0)
    mixed = paired_stats([1.0, 0.0] * 20, [1.0, 0.0] * 20)  # failures shared by both sides
    assert (mixed.ci_low, mixed.ci_high) == (0.0, 0.0)


@pytest.mark.parametrize("regressed", [1, 2, 3])
def test_any_uncompensated_regression_of_40_falls_outside_a_2_point_margin(regressed: int) -> None:
    stats = paired_stats([1.0] * 40, [1.0] * (40 - regressed) + [0.0] * regressed)
    assert stats.diff == -regressed / 40 and stats.regressions == regressed
    assert stats.ci_low < -0.02  # so the default non-inferiority check fails
    assert stats.ci_high <= 0.0


def test_improvements_only_keep_the_lower_bound_at_or_above_zero() -> None:
    stats = paired_stats([0.0] * 10 + [1.0] * 30, [1.0] * 40)
    assert stats.ci_low >= 0 and stats.improvements == 10 and stats.regressions == 0


def test_the_multinomial_shortcut_matches_the_resampling_loop() -> None:
    diffs = [-1.0] * 6 + [1.0] * 2 + [0.0] * 52 + [-0.5] * 4
    fast = bootstrap_mean_ci(diffs, resamples=20_000, seed=3)
    rng = np.random.default_rng(11)
    data = np.asarray(diffs)
    means = data[rng.integers(0, data.size, size=(20_000, data.size))].mean(axis=1)
    slow = np.quantile(means, [0.025, 0.975])
    assert fast == pytest.approx(tuple(slow), abs=0.01)


def test_the_interval_is_reproducible_and_seeded() -> None:
    diffs = [-1.0] * 5 + [1.0] * 3 + [0.0] * 92
    assert bootstrap_mean_ci(diffs, seed=1) == bootstrap_mean_ci(diffs, seed=1)
    low, high = bootstrap_mean_ci(diffs, seed=1)
    assert low < -0.02 < 0 < high


def test_repeats_compare_per_case_pass_rates() -> None:
    """With repeats a case scores its share of passing runs; a flip is a verdict change."""
    stats = paired_stats([1.0, 2 / 3, 1.0], [2 / 3, 2 / 3, 1.0],
                         baseline_passed=[True, True, True], candidate_passed=[True, True, True])
    assert stats.diff == pytest.approx(-1 / 9)
    assert stats.regressions == stats.improvements == 0 and stats.p_value == 1.0


def test_mismatched_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        paired_stats([1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean_ci([1.0, 0.0], confidence=1.5)
