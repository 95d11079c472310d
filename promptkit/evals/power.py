"""What a gate could see: the noise it observed, the smallest regression it could have
detected, and what it would take to detect one of a given size."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from promptkit.evals.sequential import CaseEvidence, Look

__all__ = ["POWER", "Power", "disagreement", "noise", "power"]

POWER = 0.8
"""The detection probability the statements are made at."""

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Power:
    """`noise_*`: how often two answers of the same case and version disagreed (None: no case
    was sampled twice). `detectable`: the smallest drop in pass rate, concentrated in cases
    that were sampled again, that this run would have shown with probability `power`.
    `stages_for_margin`: fresh pairs per sampled case that would show a drop of the margin.
    `drift_samples`: samples per case (every case) that would show the margin's drop spread
    thinly over all cases, which one pass plus re-sampling cannot."""

    noise_baseline: float | None
    noise_candidate: float | None
    detectable: float | None
    stages_for_margin: int | None
    drift_samples: int | None
    power: float = POWER

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def noise(cases: Sequence[CaseEvidence], side: int) -> float | None:
    """The share of pairs of fresh answers (same case, same version) that disagree (each
    answer passed or failed: a score of 1 or 0)."""
    return disagreement((round(sum(pair[side] for pair in case.fresh)), len(case.fresh))
                        for case in cases if not case.exact)


def disagreement(tallies: Iterable[tuple[int, int]]) -> float | None:
    """From each case's (answers passed, answers), the share of pairs of answers to the same
    case that disagree (None: no case was answered twice)."""
    disagree = pairs = 0
    for passed, answers in tallies:
        if answers > 1:
            disagree += passed * (answers - passed)
            pairs += answers * (answers - 1) // 2
    return disagree / pairs if pairs else None


def power(cases: Sequence[CaseEvidence], final: Look | None, *, margin: float,
          confidence: float) -> Power:
    """The power statements of a finished comparison."""
    base, cand = noise(cases, 0), noise(cases, 1)
    if final is None:
        return Power(base, cand, None, None, None)
    z = _z(final.alpha) + _NORMAL.inv_cdf(POWER)
    n = len(cases)
    detectable = z * final.se if final.se > 0 else (1 / n if n else None)
    stages = (math.ceil(max(final.stage, 1) * (z * final.se / margin) ** 2)
              if final.se > 0 and margin > 0 else None)
    return Power(base, cand, detectable, stages, _drift(base, cand, n, margin, confidence))


def _drift(base: float | None, cand: float | None, n: int, margin: float,
           confidence: float) -> int | None:
    seen = [r for r in (base, cand) if r is not None]
    if not seen or not n or margin <= 0:
        return None
    per_pair = sum(seen) / len(seen)  # disagreement rate 2p(1-p): the variance of a pair
    z = _z((1 - confidence) / 2) + _NORMAL.inv_cdf(POWER)
    return max(1, math.ceil(z * z * per_pair / (n * margin * margin)))


def _z(alpha: float) -> float:
    return _NORMAL.inv_cdf(1 - alpha) if 0 < alpha < 1 else math.inf
