"""The exact McNemar test against hand-computed tails, in both of its summations."""

from __future__ import annotations

import math

import pytest

from promptkit.evals import stats as stats_module
from promptkit.evals.stats import mcnemar_exact


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
