"""The call log: one entry per call, failed ones too, written in batches off the call path.

    log = CallLog([JSONLSink("calls.jsonl"), DatabaseSink(url)])   # a hook
    client = Client(configs, hooks=[log])

`after_call` only queues the call's record; a writer thread turns records into
`CallLogEntry`s, applies the redactors (`scrub_secrets` always last), and hands batches
(up to `batch_size` rows or `flush_interval_s`) to every sink. A failing sink warns once
per kind of error and keeps its rows for the next batch (up to `max_queue` of them);
nothing a sink does can fail or slow a call. A full queue drops rows and counts them in
`dropped`, reported with a warning. `flush()` waits until everything queued is written;
`close()`, the interpreter's exit and SIGTERM (the handler flushes, then does what the
previous handler did, by default end the process) write everything and stop the thread.
SIGKILL, which nothing can handle, loses at most the calls that ended in the last
`flush_interval_s` and the batch being committed.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import signal
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, runtime_checkable

from promptkit.core.calllog_entries import (
    REDACTED,
    CallLogEntry,
    Redactor,
    redact_patterns,
    safe_entry,
    scrub_secrets,
)
from promptkit.core.hooks import CallRecord, RoundContext
from promptkit.redact import Scrubber

__all__ = [
    "REDACTED",
    "CallLog",
    "CallLogEntry",
    "CallLogSink",
    "JSONLSink",
    "Redactor",
    "redact_patterns",
    "scrub_secrets",
]

# -- sinks ----------------------------------------------------------------------------------


@runtime_checkable
class CallLogSink(Protocol):
    """Where entries go. `write` gets a batch and may raise: the writer keeps the batch and
    tries again with the next one, so a sink should not write a batch partly."""

    def write(self, entries: Sequence[CallLogEntry]) -> None: ...

    def close(self) -> None: ...


class JSONLSink:
    """Appends one JSON object per line; each batch is one `write` to a file opened in
    append mode, so several processes can share a file without mixing lines."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"JSONLSink({str(self.path)!r})"

    def write(self, entries: Sequence[CallLogEntry]) -> None:
        lines = (json.dumps(e.to_dict(), ensure_ascii=False, default=str) for e in entries)
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def close(self) -> None:
        return None


# -- the writer -----------------------------------------------------------------------------


@dataclass
class _SinkState:
    sink: CallLogSink
    backlog: list[CallLogEntry] = field(default_factory=list)
    warned: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


class CallLog:
    """A hook that logs every call through its sinks, from a background writer thread.

    `run_id` (default: a new id) marks every entry unless the call's metadata has its own;
    `redactors` run in order before `scrub_secrets` (with `secrets`: literal values to hide
    whatever their variables are called). SIGTERM is handled when the log is
    made on the main thread and `handle_sigterm` is true: the log is closed within
    `sigterm_timeout_s` (what a stalled sink has not written by then is counted and
    reported), then the previous handler runs.
    """

    def __init__(
        self,
        sinks: Sequence[CallLogSink],
        *,
        run_id: str | None = None,
        redactors: Sequence[Redactor] = (),
        secrets: Sequence[str] = (),
        batch_size: int = 200,
        flush_interval_s: float = 0.1,
        max_queue: int = 10_000,
        retry_interval_s: float = 1.0,
        handle_sigterm: bool = True,
        sigterm_timeout_s: float = 5.0,
    ) -> None:
        self.run_id = run_id or uuid.uuid4().hex
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_queue = max_queue
        self.retry_interval_s = retry_interval_s
        self.dropped = 0
        self.sigterm_timeout_s = sigterm_timeout_s
        self._in_flight = 0
        self._drop_reasons: set[str] = set()
        self._scrubber = Scrubber(also=secrets)
        self._redactors: tuple[Redactor, ...] = tuple(redactors)
        self._sinks = [_SinkState(sink) for sink in sinks]
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._hurry = threading.Event()
        """Set when the writer should not wait out `flush_interval_s`: a batch is full, or a
        flush or close waits. Calls do not wake the writer one by one: it sleeps while a
        batch gathers (a wake per call costs the calling loop a thread switch each)."""
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._closed = False
        self._previous: Any = None
        self._thread = threading.Thread(target=self._work, name="promptkit-calllog", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        if handle_sigterm:
            self._install_sigterm()

    def __repr__(self) -> str:
        return f"CallLog({[s.sink for s in self._sinks]!r}, run_id={self.run_id!r})"

    def __enter__(self) -> CallLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def sinks(self) -> list[CallLogSink]:
        return [state.sink for state in self._sinks]

    # -- the hook ---------------------------------------------------------------------------

    def before_round(self, context: RoundContext) -> None:
        return None

    def after_call(self, record: CallRecord) -> None:
        """Queue the call's record (never blocks); once closed, write it at once."""
        with self._lock:
            if not self._closed:
                try:
                    self._queue.put_nowait(record)
                except queue.Full:
                    self._drop(1, "queue", f"its queue of {self.max_queue} is full")
                if self._queue.qsize() >= self.batch_size:
                    self._hurry.set()
                return
        self._write([record])

    # -- control ----------------------------------------------------------------------------

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every call queued so far is written (or given up); False on timeout."""
        with self._lock:
            if self._closed:
                return True
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        self._hurry.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Write everything queued, stop the writer, close the sinks (idempotent). Returns
        within `timeout` whatever the sinks do: a sink that does not answer in time (a
        stalled database) is left to its writer thread, and the rows not written are
        counted in `dropped` and reported in a warning."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = None if timeout is None else time.monotonic() + timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=_left(deadline))
        self._hurry.set()
        self._thread.join(_left(deadline))
        left = _left(deadline)
        if self._thread.is_alive() or not self._write_lock.acquire(
                timeout=-1 if left is None else left):
            self._abandon()
        else:
            try:
                self._drain()
                self._give_up()
                for state in self._sinks:
                    _quietly(state.sink.close)
            finally:
                self._write_lock.release()
        atexit.unregister(self.close)
        self._uninstall_sigterm()

    def _abandon(self) -> None:
        """The writer is stuck in a sink past the deadline: count what it will not write."""
        queued = sum(1 for item in self._take_queued() if not isinstance(item, _Flush))
        stuck = sum(len(s.backlog) for s in self._sinks) + self._in_flight
        if queued or stuck:
            self._drop(queued + stuck, "close", "a sink did not answer before close's "
                       "deadline (the rows in its hands may still be written)")

    # -- the writer thread ------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            records, markers, stop = self._collect()
            self._write(records)
            for marker in markers:
                marker.done.set()
            if stop:
                return

    def _collect(self) -> tuple[list[CallRecord], list[_Flush], bool]:
        """The next batch: what is queued `flush_interval_s` after the first record arrives
        (sooner when hurried), up to `batch_size` records or the first flush marker."""
        try:
            first = self._queue.get(timeout=self.retry_interval_s if self._backlogged() else None)
        except queue.Empty:
            return [], [], False
        gathering = first is not _STOP and not isinstance(first, _Flush)
        if gathering and self._queue.qsize() < self.batch_size - 1:
            self._hurry.wait(self.flush_interval_s)
        self._hurry.clear()
        records: list[CallRecord] = []
        item = first
        while True:
            if item is _STOP:
                return records, [], True
            if isinstance(item, _Flush):
                return records, [item], False
            records.append(item)
            if len(records) >= self.batch_size:
                return records, [], False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return records, [], False

    def _backlogged(self) -> bool:
        return any(state.backlog for state in self._sinks)

    def _write(self, records: Sequence[CallRecord]) -> None:
        entries = self._entries(records)
        with self._write_lock:
            self._in_flight = len(entries)
            try:
                for state in self._sinks:
                    self._write_sink(state, entries)
            finally:
                self._in_flight = 0

    def _entries(self, records: Sequence[CallRecord]) -> list[CallLogEntry]:
        entries: list[CallLogEntry] = []
        for record in records:
            try:
                entry = safe_entry(record, run_id=self.run_id, redactors=self._redactors,
                                   scrubber=self._scrubber)
            except Exception as exc:
                self._drop(1, "entry", f"an entry could not be made: {exc!r}")
                continue
            entries.append(entry)
        return entries

    def _write_sink(self, state: _SinkState, entries: list[CallLogEntry]) -> None:
        pending = state.backlog + entries
        if not pending:
            return
        try:
            state.sink.write(pending)
        except Exception as exc:
            kind = type(exc).__name__
            if kind not in state.warned:
                state.warned.add(kind)
                _warn(f"sink {state.sink!r} failed ({exc!r}); its rows are kept and retried")
            overflow = max(len(pending) - self.max_queue, 0)
            state.backlog = pending[overflow:]
            if overflow:
                self._drop(overflow, "backlog", f"sink {state.sink!r} is down, its backlog full")
            return
        state.backlog = []

    def _drain(self) -> None:
        """Write what is still queued (the writer stopped or timed out) and release flushes."""
        records = [item for item in self._take_queued() if not isinstance(item, _Flush)]
        if records:
            self._write(records)

    def _take_queued(self) -> list[Any]:
        """Empty the queue: its records (and flush markers, released)."""
        taken: list[Any] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return taken
            if isinstance(item, _Flush):
                item.done.set()
            elif item is not _STOP:
                taken.append(item)

    def _give_up(self) -> None:
        """At close: one last try for each sink's backlog, then count what is left."""
        for state in self._sinks:
            if state.backlog:
                self._write_sink(state, [])
            if state.backlog:
                lost = len(state.backlog)
                self._drop(lost, "close", f"sink {state.sink!r} still failed at close")
                state.backlog = []

    def _drop(self, count: int, kind: str, why: str) -> None:
        """Count lost rows; warn the first time rows are lost for each reason, and at close."""
        self.dropped += count
        if kind not in self._drop_reasons or kind == "close":
            self._drop_reasons.add(kind)
            _warn(f"{count} row(s) lost: {why} ({self.dropped} lost so far; see CallLog.dropped)")

    # -- SIGTERM ----------------------------------------------------------------------------

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _uninstall_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._previous or signal.SIG_DFL)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """Write everything, then do what was done before: by default, end the process."""
        previous = self._previous
        self.close(self.sigterm_timeout_s)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)


def _left(deadline: float | None) -> float | None:
    """Seconds left before `deadline` (None: no deadline; never negative)."""
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


def _warn(message: str) -> None:
    warnings.warn(f"promptkit call log: {message}", RuntimeWarning, stacklevel=2)


def _quietly(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as exc:
        _warn(f"closing a sink failed: {exc!r}")
