"""How long replayed calls took when they were recorded, so an offline run reports (and
asserts on) the latency the endpoint had, not the microseconds a replay takes.

    with replay_tally() as tally:
        result = await client.call(...)
    latency = tally.recorded_latency_s or result.latency_s
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["ReplayTally", "current_tally", "replay_tally"]


@dataclass
class ReplayTally:
    """The answers of one block: how many were replayed, their recorded seconds, and how
    many were not replayed (called live) or were recorded before latencies were kept."""

    replayed: int = 0
    recorded_s: float = 0.0
    unknown: int = 0
    live: int = 0

    def add_replayed(self, latency_s: float | None) -> None:
        self.replayed += 1
        if latency_s is None:
            self.unknown += 1
        else:
            self.recorded_s += latency_s

    @property
    def recorded_latency_s(self) -> float | None:
        """The recorded latency of the block's requests, when every one was replayed with
        a latency on record; else None (the measured latency is then the one to use)."""
        if self.replayed and not self.unknown and not self.live:
            return self.recorded_s
        return None


_TALLY: contextvars.ContextVar[ReplayTally | None] = contextvars.ContextVar(
    "promptkit_replay_tally", default=None
)


@contextmanager
def replay_tally() -> Iterator[ReplayTally]:
    """Within the block, replayed and live requests of this context are counted."""
    tally = ReplayTally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def current_tally() -> ReplayTally | None:
    """The tally of the innermost `replay_tally()` block, if any."""
    return _TALLY.get()
