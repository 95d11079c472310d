"""Writing recordings off the call path: a background thread gathers the cassettes that
gained recordings into rounds, and a writer process writes them.

    writer = CassetteWriter(interval_s=0.1)
    writer.submit(cassette)   # from the event loop: O(1), never touches the disk
    writer.drain()            # every cassette submitted so far is written (session end)
    writer.close()            # drain, then stop the thread and the process

A recording run makes one file per eval case; formatting and writing it costs about half a
millisecond of CPU, more than the call itself when the endpoint is fast, and any thread of
the process making the calls takes that time from them under the GIL. So the thread only
gathers a round every `interval_s` (or as soon as `batch` cassettes wait) and hands it to
one child process (`replay.writer_process`), which writes each file atomically the way
`Cassette.flush` does, while this process keeps making calls. Should the child be gone (or
fail to start), the thread writes the files itself, with a warning.

Durability: `ReplaySession.finish` drains the writer and then syncs once, so a run that ends
(or is interrupted by Ctrl-C or SIGTERM, which end pytest's session normally) writes every
recording. A SIGKILL, which nothing can handle, loses at most the recordings made in the
last `interval_s` before it (the child still writes the round it was sent); files are
never torn.

A failing write (a full disk, a read-only folder) warns once per kind of error and keeps
the cassette dirty, so `finish` tries again; it never fails a call.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from promptkit.replay.writer_process import WriterProcess

if TYPE_CHECKING:
    from promptkit.replay.cassette import Cassette

__all__ = ["CassetteWriter"]


class CassetteWriter:
    """One daemon thread gathering submitted cassettes into rounds (`batch` at most, a round
    at least every `interval_s` while any wait) for the writer process to write. Both are
    started on the first `submit`."""

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
        self._by_process = True
        self._process: WriterProcess | None = None
        self._turn = threading.Lock()

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
        with self._turn:
            if self._process is not None:
                self._process.close()
                self._process = None

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
        """Write a round: by the writer process while there is one, else in this process."""
        if cassettes and self._by_process:
            with self._turn:  # one round at a time through the pipe
                cassettes = self._write_by_process(cassettes)
        for cassette in cassettes:
            _guarded(cassette.flush, self._failed, cassette)
        self.written += len(cassettes)

    def _write_by_process(self, cassettes: list[Cassette]) -> list[Cassette]:
        """Hand a round to the writer process; what is left to write here (all of it when
        the process is gone). A file it could not write stays dirty, as after a failed flush."""
        process = self._child()
        if process is None:
            return cassettes
        handed = [(cassette, cassette.hand_off()) for cassette in cassettes]
        try:
            failed: dict[str, str] | None = process.write(
                [(str(c.path), recorded) for c, recorded in handed if recorded])
        except OSError as exc:
            self._lose_child(exc)
            failed = None
        for cassette, recorded in handed:
            why = None if failed is None else failed.get(str(cassette.path))
            cassette.handed_back(recorded if failed is None or why is not None else ())
            if why is not None:
                self._failed(cassette, OSError(why))
        return cassettes if failed is None else []

    def _child(self) -> WriterProcess | None:
        """The writer process, started on first use; None once it could not be."""
        if self._process is None and self._by_process:
            try:
                self._process = WriterProcess.start()
            except OSError as exc:
                self._lose_child(exc)
        return self._process

    def _lose_child(self, exc: Exception) -> None:
        process, self._process, self._by_process = self._process, None, False
        warnings.warn(f"promptkit replay: the cassette writer process is gone ({exc!r}); "
                      "recordings are written by this process", RuntimeWarning, stacklevel=2)
        if process is not None:
            process.close(timeout=1.0)

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
