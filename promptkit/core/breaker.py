"""A consecutive-failure circuit breaker per endpoint: open, cool down, then one probe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CircuitBreaker:
    """Counts consecutive failed attempts per endpoint key; opens after `failure_threshold`.

    An attempt is one HTTP request (the SDK never retries), and the count runs across
    every call to the endpoint, in the order the requests finish. The default of 20 is an
    outage signal, not a fault counter: at concurrency 16 a dead endpoint reaches it within
    the first two rounds of retries, while 30 % of requests failing at random peaks at
    about ten in a row over 400 calls (it was 5 when an attempt was an SDK call hiding up
    to three requests, i.e. ~15 requests).

    Open, it refuses attempts for `cooldown_s`; then it lets exactly one probe through
    (half open) and refuses the others until the probe reports. A success closes the
    circuit, a failure opens it for another cooldown. Thread-safe; share one instance
    between clients to share the view of an endpoint's health.
    """

    def __init__(
        self,
        failure_threshold: int = 20,
        cooldown_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._circuits: dict[Hashable, _Circuit] = {}
        self._lock = threading.Lock()

    def state(self, key: Hashable) -> BreakerState:
        with self._lock:
            return self._state(self._circuits.get(key) or _Circuit())

    def allow(self, key: Hashable) -> bool:
        """May an attempt go to this endpoint now? Grants the single probe when half open."""
        with self._lock:
            circuit = self._circuits.setdefault(key, _Circuit())
            state = self._state(circuit)
            if state == "closed":
                return True
            if state == "half_open" and not circuit.probing:
                circuit.probing = True
                return True
            return False

    def record(self, key: Hashable, ok: bool) -> None:
        """Report an allowed attempt's outcome: the endpoint answered (`ok`) or failed."""
        with self._lock:
            circuit = self._circuits.setdefault(key, _Circuit())
            circuit.probing = False
            if ok:
                circuit.failures, circuit.opened_at = 0, None
                return
            circuit.failures += 1
            if circuit.opened_at is not None or circuit.failures >= self.failure_threshold:
                circuit.opened_at = self._clock()

    def release(self, key: Hashable) -> None:
        """Hand back an allowed attempt that ended without a verdict (cancelled, a hook refused)."""
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is not None:
                circuit.probing = False

    def retry_in(self, key: Hashable) -> float:
        """Seconds until an open circuit admits its probe (0 when not open)."""
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is None or circuit.opened_at is None:
                return 0.0
            return max(0.0, circuit.opened_at + self.cooldown_s - self._clock())

    def _state(self, circuit: _Circuit) -> BreakerState:
        if circuit.opened_at is None:
            return "closed"
        if self._clock() - circuit.opened_at < self.cooldown_s:
            return "open"
        return "half_open"
