"""Ready-made checks for `python:` assertions in suites."""

from __future__ import annotations

from promptkit.evals.assertions import Observation

__all__ = ["max_words"]


def max_words(obs: Observation, limit: int = 100) -> tuple[bool, str]:
    """The text answer has at most `limit` words."""
    words = len((obs.text or "").split())
    return words <= limit, f"{words} words, more than {limit}"
