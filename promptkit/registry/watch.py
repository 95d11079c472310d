"""Change watchers: a thread beside a resolver that learns of pin moves as they commit and
asks the resolver to check at once, so a rollback reaches a serving process in
milliseconds instead of at its next ttl check.

    PostgreSQL   `PgListener`: LISTEN on its own connection (see `notify`); on a
                 notification the resolver checks at once. Reconnects with backoff; after
                 each (re)connect it checks once, for moves announced while it was away.
    SQLite       `SqliteWatch`: `PRAGMA data_version` on a held connection every 50 ms
                 tells whether any other connection committed; only then the resolver
                 checks. Its `mark()` lets the ttl check skip its query when nothing
                 committed since the last one.
    MySQL        none: the ttl check alone.

A watcher never raises into its resolver: failures are logged and retried, and the ttl
check goes on meanwhile. `close()` stops the thread and closes its connection; so does the
end of its resolver (`alive()` turning False), for one nobody closed.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from promptkit.db.engine import CONNECT_TIMEOUT_S, redact
from promptkit.registry.notify import CHANNEL

__all__ = [
    "APPLICATION_NAME",
    "BACKOFF_CAP_S",
    "DATA_VERSION_POLL_S",
    "PgListener",
    "SqliteWatch",
    "Watch",
    "watch_for",
]

APPLICATION_NAME = "promptkit-listen"
"""The listener's `application_name` (find it in `pg_stat_activity`)."""

DATA_VERSION_POLL_S = 0.05
"""How often a SQLite watcher asks whether another connection committed."""

BACKOFF_CAP_S = 5.0
"""The longest a listener waits before connecting again."""

_NOTIFY_WAIT_S = 0.25  # how long one wait for notifications lasts (and close() may take)

log = logging.getLogger("promptkit.registry")

OnChange = Callable[[], None]
Alive = Callable[[], bool]


class Watch(Protocol):
    """What a resolver needs of a watcher."""

    kind: str

    def start(self) -> None: ...

    def mark(self) -> int | None:
        """Changes seen so far, or None when the watcher cannot tell (so: ask)."""

    def close(self, wait: bool = True) -> None: ...


def watch_for(engine: Engine, on_change: OnChange, alive: Alive = lambda: True
              ) -> Watch | None:
    """The watcher for `engine`'s database, or None (MySQL, in-memory SQLite, psycopg2)."""
    dialect = engine.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return PgListener(engine, on_change, alive)
    database = engine.url.database or ""
    if dialect.name == "sqlite" and database not in ("", ":memory:") and not (
            database.startswith("file:")):
        return SqliteWatch(Path(database), on_change, alive)
    return None


class _Thread:
    """A daemon thread with a stop flag, started once per process (again after a fork)."""

    kind = "none"

    def __init__(self, on_change: OnChange, alive: Alive) -> None:
        self._on_change, self._alive = on_change, alive
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def start(self) -> None:
        if self._pid == os.getpid() or self._stop.is_set():
            return
        if self._pid:
            self._forked()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name=f"promptkit-{self.kind}",
                                        daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self, wait: bool = True) -> None:
        """Stop the thread (it closes its connection); with `wait`, until it has."""
        self._stop.set()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * _NOTIFY_WAIT_S + CONNECT_TIMEOUT_S)

    def _forked(self) -> None:
        """In a forked child: drop what belonged to the parent's thread."""

    def _stopping(self, wait: float) -> bool:
        """Wait up to `wait` seconds; True when the watcher should end."""
        return self._stop.wait(wait) or not self._alive()

    def _changed(self) -> None:
        try:
            self._on_change()
        except Exception:  # a watcher never dies of its resolver's error
            log.exception("promptkit: checking the registry after a pin move failed")

    def _run(self) -> None:
        raise NotImplementedError


class PgListener(_Thread):
    """LISTEN for pin moves on a connection of its own (psycopg 3)."""

    kind = "listen"

    def __init__(self, engine: Engine, on_change: OnChange, alive: Alive) -> None:
        super().__init__(on_change, alive)
        self._engine = engine
        self.connects = 0
        self.connected = False
        self.backend_pid: int | None = None  # the server process of the current connection

    def mark(self) -> int | None:
        return None  # PostgreSQL keeps its ttl check: a notification lost is caught there

    def _run(self) -> None:
        delay = 0.1
        while not self._stopping(0):
            try:
                with self._connect() as conn:
                    delay = 0.1
                    self._listen(conn)
            except Exception as error:  # psycopg.Error, OSError: the server or network
                log.info("promptkit: listening for pin moves on %s failed (%s); "
                         "again in %.1f s", redact(self._engine.url), error, delay)
            self.connected = False
            self._stopping(random.uniform(delay / 2, delay))
            delay = min(BACKOFF_CAP_S, delay * 2)

    def _connect(self) -> Any:
        import psycopg

        args, kwargs = self._engine.dialect.create_connect_args(self._engine.url)
        kwargs.pop("context", None)
        kwargs.update(autocommit=True, application_name=APPLICATION_NAME,
                      connect_timeout=CONNECT_TIMEOUT_S, keepalives=1, keepalives_idle=10,
                      keepalives_interval=3, keepalives_count=3)
        return psycopg.connect(*args, **kwargs)

    def _listen(self, conn: Any) -> None:
        conn.execute(f"LISTEN {CHANNEL}")
        self.backend_pid = conn.info.backend_pid
        self.connects += 1
        self.connected = True
        self._changed()  # moves announced while nobody listened
        while not self._stopping(0):
            if list(conn.notifies(timeout=_NOTIFY_WAIT_S, stop_after=1)):
                list(conn.notifies(timeout=0))  # several moves at once: one check
                self._changed()


class SqliteWatch(_Thread):
    """`PRAGMA data_version` on a held connection: has another connection committed?"""

    kind = "data_version"

    def __init__(self, path: Path, on_change: OnChange, alive: Alive,
                 interval: float = DATA_VERSION_POLL_S) -> None:
        super().__init__(on_change, alive)
        self._path = path
        self._lock = threading.Lock()  # the connection is the thread's and mark()'s
        self._interval = interval
        self._changes = 0
        self._conn: sqlite3.Connection | None = None
        self._seen: tuple[int, int, int] | None = None  # the file (device, inode), version

    def _forked(self) -> None:
        self._lock = threading.Lock()  # the parent's thread may have held it at the fork
        self._conn, self._seen = None, None  # a SQLite connection is not used across fork

    def mark(self) -> int | None:
        """Asked now, not at the last poll: a commit just made is never missed."""
        if not self.alive:
            return None
        self._guarded_poll()
        return self._changes if self._seen is not None else None

    def _run(self) -> None:
        opened = False
        try:
            while not self._stopping(self._interval if self._conn or not opened else 0.5):
                changed = self._guarded_poll()
                if changed and opened:  # the first poll only sets where it starts
                    self._changed()
                opened = opened or self._conn is not None
        finally:
            with self._lock:
                self._conn = _closed(self._conn)

    def _guarded_poll(self) -> bool:
        with self._lock:
            if self._stop.is_set():
                return False
            try:
                return self._poll()
            except (sqlite3.Error, OSError) as error:
                log.debug("promptkit: watching %s: %s", self._path, error)
                self._conn, self._seen = _closed(self._conn), None
                return False

    def _poll(self) -> bool:
        """True when something may have changed since the last poll: another connection
        committed, the file was replaced, or it is watched anew (what happened meanwhile
        is unknown)."""
        if self._conn is None:
            self._conn = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=rw", uri=True,
                                         isolation_level=None, check_same_thread=False)
        now = (*_identity(self._path), _data_version(self._conn))
        if self._seen is not None and now[:2] != self._seen[:2]:
            self._conn, self._seen = _closed(self._conn), None  # open the new file next
            self._changes += 1
            return True
        changed, self._seen = now != self._seen, now
        self._changes += changed
        return changed


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return (status.st_dev, status.st_ino)


def _closed(conn: sqlite3.Connection | None) -> sqlite3.Connection | None:
    """Close `conn` if open; None, to assign in its place."""
    if conn is not None:
        conn.close()
    return None
