"""The threads a resolver runs beside its cache: a change watcher (`watch`: pin moves
pushed by PostgreSQL, or SQLite's data_version), and the heartbeat writer (`heartbeats`:
what this process serves, for `promptkit fleet`). Started on the resolver's first lookup
(again in a forked child), stopped by `close()` or when the resolver is collected; they
hold the resolver only weakly, so a resolver nobody closed does not live on in them."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

from promptkit.registry.heartbeats import Heartbeats, ServedPrompt
from promptkit.registry.store import Registry
from promptkit.registry.watch import Watch, watch_for

__all__ = ["ServingThreads"]


class ServingThreads:
    """The change watcher (with `push`) and heartbeats (every `heartbeat_s`; None: none)
    of `owner`, whose `refresh()` is called when the database says something moved."""

    def __init__(self, registry: Registry, owner: Any, *, push: bool,
                 heartbeat_s: float | None) -> None:
        refresh = weakref.WeakMethod(owner.refresh)
        self.watch: Watch | None = (
            watch_for(registry.engine, lambda: _call(refresh), lambda: refresh() is not None)
            if push else None)
        self.heartbeats = (Heartbeats(registry, heartbeat_s, self.watch.kind if self.watch
                                      else "poll") if heartbeat_s is not None else None)
        weakref.finalize(owner, self.close, wait=False)

    def start(self) -> None:
        """Start what is not running in this process (cheap when all is)."""
        if self.watch is not None:
            self.watch.start()
        if self.heartbeats is not None:
            self.heartbeats.start()

    def mark(self) -> int | None:
        """The watcher's count of changes seen; None when it cannot tell (always ask)."""
        return self.watch.mark() if self.watch is not None else None

    def served(self, resolved: Iterable[ServedPrompt]) -> None:
        """What the resolver serves now (a switch is reported at once)."""
        if self.heartbeats is not None:
            self.heartbeats.observe(resolved)

    def close(self, wait: bool = True) -> None:
        """Stop the threads and close their connections (with `wait`, before returning)."""
        for part in (self.watch, self.heartbeats):
            if part is not None:
                part.close(wait)


def _call(method: Callable[[], Callable[[], None] | None]) -> None:
    bound = method()
    if bound is not None:
        bound()
