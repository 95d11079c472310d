"""Figures as the gate's checks and every report write them."""

from __future__ import annotations

import math

__all__ = ["milliseconds", "points", "signed_percent", "usd"]


def points(fraction: float) -> str:
    """A pass-rate difference in percentage points: `-7.5 pts`."""
    return f"{fraction * 100:+.1f} pts"


def signed_percent(fraction: float) -> str:
    """A relative change: `+12.0%` (`+inf` from zero)."""
    return "+inf" if math.isinf(fraction) else f"{fraction:+.1%}"


def usd(value: float) -> str:
    return f"${value:.4f}"


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"
