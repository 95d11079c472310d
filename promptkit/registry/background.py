"""Registry queries off the caller's thread, so a stalled database never holds a caller
longer than its budget.

A query runs in a daemon thread (`Lookup`); the caller waits for it at most a budget and
otherwise serves what it already knows, while the query finishes on its own and leaves its
answer behind. `Lookups` keeps at most one young query per key in flight: a query unanswered
for `timeout_s` is left to finish (its connection may be stuck in a stalled socket) and a new
one starts on a fresh connection, up to `MAX_IN_FLIGHT` per key, so a stall ties up a bounded
number of threads and connections and recovery never waits for the stuck ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from promptkit.db.engine import redact

__all__ = ["MAX_IN_FLIGHT", "Lookup", "Lookups", "unanswered"]

T = TypeVar("T")

MAX_IN_FLIGHT = 4
"""Queries of one key in flight at once, stuck ones included."""


def unanswered(url: str, seconds: float) -> str:
    """Why a registry query is given up on: the database (password hidden) and the wait."""
    return f"{redact(url)} did not answer within {seconds:.3g} s"


class Lookup(Generic[T]):
    """One query running in a daemon thread: wait for it, then read its answer or error."""

    def __init__(self, query: Callable[[], T], *, started: float) -> None:
        self.started = started
        self._query = query
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name="promptkit-registry", daemon=True).start()

    def _run(self) -> None:
        try:
            self._value = self._query()
        except BaseException as error:  # handed to whoever reads the answer
            self._error = error
        finally:
            self._done.set()

    def wait(self, timeout: float | None) -> bool:
        """True once the query has ended (answered or failed), within `timeout` seconds."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> T:
        """The answer, or the query's error raised here; only once `done`."""
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class Lookups:
    """The queries in flight, per key."""

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._in_flight: dict[Hashable, list[Lookup[object]]] = {}
        self._lock = threading.Lock()

    def start(self, key: Hashable, query: Callable[[], T]) -> tuple[Lookup[T], bool]:
        """The young query of `key` in flight, else a new one; True when this call started it."""
        with self._lock:
            now = self._clock()
            running = [q for q in self._in_flight.get(key, []) if not q.done]
            young = [q for q in running if now - q.started < self.timeout_s]
            if young or len(running) >= MAX_IN_FLIGHT:
                return (young or running)[-1], False  # type: ignore[return-value]
            lookup = Lookup(query, started=now)
            self._in_flight[key] = [*running, lookup]  # type: ignore[list-item]
            return lookup, True

    def overdue(self, key: Hashable) -> float | None:
        """How long the oldest unanswered query of `key` has run, once past `timeout_s`."""
        with self._lock:
            now = self._clock()
            ages = [now - q.started for q in self._in_flight.get(key, []) if not q.done]
        oldest = max(ages, default=0.0)
        return oldest if oldest >= self.timeout_s else None
