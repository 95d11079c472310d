"""Heartbeats: a serving process reports to the registry which content it serves per
prompt and environment, every `interval_s` and right after it switches, from a daemon
thread of its own. A failing write never fails a caller: it warns once and is logged.

A switch is written within `SWITCH_SPREAD_S` (at a random moment in it), with the time it
happened: a fleet that switches at once, on a push, does not write at once too while its
processes are still switching."""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from promptkit.db.engine import unavailable_as_error
from promptkit.registry.fleet import ProcessInfo, Served, write_heartbeat
from promptkit.registry.store import Registry

__all__ = ["DEFAULT_HEARTBEAT_S", "SWITCH_SPREAD_S", "Heartbeats", "ServedPrompt",
           "this_process"]

DEFAULT_HEARTBEAT_S = 10.0
"""How often a serving process reports what it serves (and right after it switches)."""

SWITCH_SPREAD_S = 0.5
"""A switch is reported at a random moment within this many seconds after it."""

log = logging.getLogger("promptkit.registry")

_process: ProcessInfo | None = None
_process_lock = threading.Lock()


def _after_fork() -> None:
    global _process_lock
    _process_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def this_process() -> ProcessInfo:
    """This process's identity: a new uuid in each process (a forked child gets its own)."""
    global _process
    with _process_lock:
        if _process is None or _process.pid != os.getpid():
            _process = ProcessInfo(str(uuid.uuid4()), socket.gethostname(), os.getpid(),
                                   datetime.now(UTC))
        return _process


class ServedPrompt(Protocol):
    """What a resolved pin tells the heartbeat (`Resolved` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def ledger_id(self) -> int | None: ...
    @property
    def stale(self) -> bool: ...


class Heartbeats:
    """The heartbeat writer of one resolver."""

    def __init__(self, registry: Registry, interval_s: float = DEFAULT_HEARTBEAT_S,
                 watch: str = "poll") -> None:
        self.registry, self.interval_s, self.watch = registry, interval_s, watch
        self._served: dict[tuple[str, str], Served] = {}
        self._dirty: dict[tuple[str, str], Served] = {}
        self._lock = threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.writes = 0
        self.failures = 0

    def start(self) -> None:
        """Start the writer (again in a forked child, where it is a new process)."""
        if self._pid == os.getpid() or self._stop.is_set():
            return
        if self._pid:
            self._lock = threading.Lock()  # the parent's thread may have held it at the fork
        self._pid = os.getpid()
        with self._lock:
            self._dirty = dict(self._served)
        self._thread = threading.Thread(target=self._run, name="promptkit-heartbeat",
                                        daemon=True)
        self._thread.start()

    def observe(self, resolved: Iterable[ServedPrompt]) -> None:
        """Note what is served now; a switch is written at once."""
        now, switched = datetime.now(UTC), False
        with self._lock:
            for item in resolved:
                if item.label is None:
                    continue
                key = (item.name, item.label)
                served = _next(self._served.get(key), item, now)
                if served is not self._served.get(key):
                    self._served[key] = self._dirty[key] = served
                    switched = True
        if switched:
            self._wake.set()

    def close(self, wait: bool = True) -> None:
        """Stop the writer; with `wait`, until it has (a write under way finishes)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._beat()
            if self._wake.wait(self.interval_s):
                self._stop.wait(random.uniform(0, min(SWITCH_SPREAD_S, self.interval_s)))
            self._wake.clear()
        if self._dirty:  # a switch not written yet: written before the thread ends
            self._beat()

    def _beat(self) -> None:
        with self._lock:
            dirty = dict(self._dirty)
        try:
            self.registry.migrate()
            with unavailable_as_error(self.registry.url):
                write_heartbeat(self.registry.engine, this_process(),
                                interval_s=self.interval_s, watch=self.watch,
                                served=dirty.values(), now=datetime.now(UTC))
        except Exception as error:  # an observer never fails what it observes
            self._failed(error)
            return
        self.writes += 1
        with self._lock:
            for key, served in dirty.items():
                if self._dirty.get(key) is served:
                    del self._dirty[key]

    def _failed(self, error: Exception) -> None:
        self.failures += 1
        message = (f"promptkit: cannot write this process's heartbeat to {self.registry.url} "
                   f"(`promptkit fleet` will not show it): {error}")
        if self.failures > 1:
            log.debug("%s", message)
            return
        log.warning("%s", message)
        warnings.warn(message, RuntimeWarning, stacklevel=1)


def _next(known: Served | None, item: ServedPrompt, now: datetime) -> Served:
    """What to report for `item` given what was reported (the same object: nothing new)."""
    if known is None:
        return Served(item.name, item.label or "", item.version, item.content_hash,
                      item.ledger_id, now, None, item.stale)
    if known.content_hash != item.content_hash:
        return Served(item.name, known.env, item.version, item.content_hash, item.ledger_id,
                      now, known.version, item.stale)
    if (known.ledger_id, known.stale) != (item.ledger_id, item.stale):
        return replace(known, ledger_id=item.ledger_id, stale=item.stale)
    return known
