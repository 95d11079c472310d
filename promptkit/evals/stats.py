"""The exact McNemar test: for two versions run on the same cases, the p-value of the cases
whose verdict flipped one way against those that flipped the other (no scipy: an exact
binomial tail). The gate's interval and verdict are `sequential`'s."""

from __future__ import annotations

import math

__all__ = ["EXACT_INTEGERS_UP_TO", "half_binomial_cdf", "mcnemar_exact"]

EXACT_INTEGERS_UP_TO = 20_000
"""Discordant pairs up to which the McNemar tail is summed in exact integers (~0.1 s);
beyond, in log space."""


def mcnemar_exact(regressions: int, improvements: int) -> float:
    """Two-sided exact McNemar p-value: the binomial(n, ½) tail of the discordant pairs.

    With no discordant pair there is no evidence of a difference: p = 1.
    """
    if regressions < 0 or improvements < 0:
        raise ValueError("counts of discordant pairs cannot be negative")
    n = regressions + improvements
    if n == 0:
        return 1.0
    return min(1.0, 2 * half_binomial_cdf(min(regressions, improvements), n))


def half_binomial_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2): summed in exact integers up to
    `EXACT_INTEGERS_UP_TO` trials, in log space beyond."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if n > EXACT_INTEGERS_UP_TO:
        return _log_space_tail(n, k)
    term = tail = 1  # C(n, 0); each next term from the last one, in exact integers
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    return tail / 2**n


def _log_space_tail(n: int, upto: int) -> float:
    """P(X <= upto) for X ~ Binomial(n, 1/2), summed in log space (relative error ~1e-10)."""
    logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
            for k in range(upto + 1)]
    top = max(logs)
    return math.exp(top) * sum(math.exp(v - top) for v in logs)
