"""Writing recordings off the call path: one background thread flushes cassettes in batches.

    writer = CassetteWriter(interval_s=0.1)
    writer.submit(cassette)   # from the event loop: O(1), never touches the disk
    writer.drain()            # every cassette submitted so far is written (session end)
    writer.close()            # drain, then stop the thread

A recording run makes one file per eval case; serialising and writing it on the event loop
costs more than the call itself when the endpoint is fast. The writer collects the cassettes
that gained recordings and writes them together every `interval_s` (or as soon as `batch`
of them wait), each file atomically, by the same `Cassette.flush` as before: the same serialisation,
only written a little later. Writing releases the GIL while the kernel
works, so the event loop keeps making calls meanwhile.

Durability: `ReplaySession.finish` drains the writer and then syncs once, so a run that ends
(or is interrupted by Ctrl-C or SIGTERM, which end pytest's session normally) writes every
recording. A SIGKILL, which nothing can handle, loses at most the recordings made in the
last `interval_s` before it and the batch being written; files are never torn.

A failing write (a full disk, a read-only folder) warns once per kind of error and keeps
the cassette dirty, so the next batch (or `finish`) tries again; it never fails a call.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptkit.replay.cassette import Cassette

__all__ = ["CassetteWriter"]


class CassetteWriter:
    """One daemon thread writing submitted cassettes, `batch` at most per round, a round
    at least every `interval_s` while any wait. Started on the first `submit`."""

    def __init__(self, *, interval_s: float = 0.1, batch: int = 500) -> None:
        self.interval_s = interval_s
        self.batch = batch
        self.written = 0
        self._pending: dict[int, Cassette] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._warned: set[str] = set()
        self._thread: threading.Thread | None = None

    def submit(self, cassette: Cassette) -> None:
        """Queue `cassette` to be written by the next batch (once, however often submitted)."""
        with self._cond:
            self._pending[id(cassette)] = cassette
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._work, name="promptkit-cassettes",
                                                daemon=True)
                self._thread.start()
            if len(self._pending) >= self.batch:
                self._cond.notify_all()

    def drain(self) -> None:
        """Write everything submitted so far, on the calling thread if the writer is busy
        with a batch of its own (each cassette file has one writer at a time)."""
        while True:
            with self._cond:
                taken = self._take()
            if not taken:
                break
            self._write(taken)
        with self._cond:
            while self._busy:
                self._cond.wait()

    def close(self) -> None:
        """Write everything submitted, then stop the thread (idempotent)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        self.drain()

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._stopping and len(self._pending) < self.batch:
                    self._cond.wait(self.interval_s)
                taken = self._take()
                self._busy = bool(taken)
                stop = self._stopping and not taken
            try:
                self._write(taken)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
            if stop:
                return

    def _take(self) -> list[Cassette]:
        """Up to `batch` pending cassettes, removed from the queue (the lock is held)."""
        keys = list(self._pending)[: self.batch]
        return [self._pending.pop(key) for key in keys]

    def _write(self, cassettes: list[Cassette]) -> None:
        for cassette in cassettes:
            _guarded(cassette.flush, self._failed, cassette)
            self.written += 1

    def _failed(self, cassette: Cassette, exc: Exception) -> None:
        kind = type(exc).__name__
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(f"promptkit replay: recordings not written to {cassette.path} yet "
                          f"({exc!r}); retried at the session's end", RuntimeWarning,
                          stacklevel=2)  # fmt: skip


def _guarded(flush: Callable[[], None], failed: Callable[[Cassette, Exception], None],
             cassette: Cassette) -> None:  # fmt: skip
    try:
        flush()
    except Exception as exc:
        failed(cassette, exc)
