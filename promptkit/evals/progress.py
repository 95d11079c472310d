"""How far a long run is: items done of those started, calls made, cost so far, and the
time left at the pace so far. The eval session counts; whoever watches (the CLI's terminal
line) reads a snapshot whenever it likes, from any thread."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from promptkit.evals.results import CaseResult

__all__ = ["Progress", "ProgressSnapshot"]


@dataclass(frozen=True)
class ProgressSnapshot:
    """The counts at one moment."""

    title: str
    total: int
    done: int
    calls: int
    cost_usd: float
    elapsed_s: float

    @property
    def left_s(self) -> float | None:
        """Seconds left at the pace so far (None until an item finished)."""
        if not self.done or self.done >= self.total:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)

    def line(self) -> str:
        """`gate parity: 34/80 cases · 68 calls · $0.0123 · 12 s left`."""
        left = self.left_s
        parts = [f"{self.done}/{self.total} cases", f"{self.calls} calls",
                 f"${self.cost_usd:.4f}",
                 f"{_duration(left)} left" if left is not None else f"{_duration(self.elapsed_s)}"]
        return f"{self.title}: " + " · ".join(parts) if self.title else " · ".join(parts)


class Progress:
    """Counters of one run, safe to update from the session's loop thread."""

    def __init__(self, title: str = "") -> None:
        self.title = title
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._total = self._done = self._calls = 0
        self._cost = 0.0

    def started(self, items: int) -> None:
        with self._lock:
            self._total += items

    def finished(self, result: CaseResult) -> None:
        with self._lock:
            self._done += 1
            self._calls += sum(run.attempts for run in result.runs)
            self._cost += result.cost_usd

    def snapshot(self) -> ProgressSnapshot:
        with self._lock:
            return ProgressSnapshot(self.title, self._total, self._done, self._calls,
                                    self._cost, time.monotonic() - self._started)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"
