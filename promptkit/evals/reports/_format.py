"""Figures as every report shows them."""

from __future__ import annotations

import math

from promptkit.evals.gate import Change

__all__ = ["points", "relative"]


def points(fraction: float) -> str:
    """A pass-rate difference in percentage points: `-7.5 pts`."""
    return f"{fraction * 100:+.1f} pts"


def relative(change: Change) -> str:
    """The candidate's change relative to the baseline: `+12.0%` (`+inf` from zero)."""
    rel = change.relative
    return "+inf" if math.isinf(rel) else f"{rel:+.1%}"
