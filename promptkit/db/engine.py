"""Database engines for the registry: per-dialect options, write transactions, error mapping."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, CursorResult, Engine, make_url
from sqlalchemy.pool import StaticPool

from promptkit.errors import ConfigError, RegistryUnavailableError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "SQLITE_BUSY_TIMEOUT_S",
    "create_registry_engine",
    "inserted_id",
    "is_mysql",
    "redact",
    "unavailable_as_error",
    "write_transaction",
]

CONNECT_TIMEOUT_S = 5
"""How long a server connection may take before the registry counts as unreachable."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another process's write lock."""

_WRITE = "promptkit_write"


def redact(url: str | URL) -> str:
    """The URL as safe to print: the password hidden (text that is no URL at all is shown
    quoted, with anything after an '@' hidden)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        text = str(url)
        return repr(text.split("@")[-1] if "@" in text else text)


def is_mysql(engine: Engine | Connection) -> bool:
    return engine.dialect.name in ("mysql", "mariadb")


def create_registry_engine(url: str | URL, *, create: bool = True) -> Engine:
    """An engine with sensible options for its dialect. SQLite: WAL, a busy timeout, pooled
    connections dropped when the file is replaced or removed, and the file's folder made
    when `create` (else a missing file counts as an unreachable registry). Servers: a
    connect timeout and a liveness check before each use of a pooled connection.

    A URL that is not one, a database kind that is not installed, or a folder that cannot
    be made is a one-line `ConfigError` naming the URL (its password hidden)."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed, create)
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        return sa.create_engine(
            parsed, pool_pre_ping=True, pool_recycle=3600, connect_args=connect_args
        )
    except (exc.ArgumentError, exc.NoSuchModuleError, ValueError) as error:
        raise ConfigError(
            f"database URL {redact(url)} cannot be used: {_first_line(error)}; expected "
            f"sqlite:///PATH, postgresql+psycopg://USER@HOST/DB (promptkit[postgres]) or "
            f"mysql+pymysql://USER@HOST/DB (promptkit[mysql])") from None
    except ImportError as error:
        raise ConfigError(f"database URL {redact(url)} needs a driver that is not installed "
                          f"({error.name or error}): install promptkit[postgres] or "
                          f"promptkit[mysql]") from None
    except OSError as error:
        raise ConfigError(f"database URL {redact(url)}: cannot make its folder: "
                          f"{error.strerror or error}") from None


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _sqlite_engine(url: URL, create: bool) -> Engine:
    path = url.database or ""
    in_memory = path in ("", ":memory:") or path.startswith("file::memory:")
    if in_memory:
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = sa.create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        )
        _guard_file(engine, Path(path), create)
    _sqlite_transactions(engine, wal=not in_memory)
    return engine


def _guard_file(engine: Engine, path: Path, create: bool) -> None:
    """A pooled connection is used only while the file it opened is still at `path`."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        @event.listens_for(engine, "do_connect")
        def _refuse_missing(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
            if not path.is_file():
                raise sqlite3.OperationalError(f"no registry database file at {path}")

    @event.listens_for(engine, "connect")
    def _remember_file(dbapi_connection: Any, record: Any) -> None:
        record.info["promptkit_file"] = _identity(path)

    @event.listens_for(engine, "checkout")
    def _check_file(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if _identity(path) != record.info.get("promptkit_file"):
            raise exc.DisconnectionError(f"{path} was replaced or removed")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_dev, status.st_ino)


def _sqlite_transactions(engine: Engine, *, wal: bool) -> None:
    """SQLAlchemy emits BEGIN itself: IMMEDIATE for writes (the write lock is taken at
    once, so concurrent writers queue on the busy timeout instead of failing)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if wal:
            _use_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL unless it is already. The switch needs the file to itself and
    SQLite answers "database is locked" at once instead of waiting on the busy timeout, so
    processes opening a new database together retry it (with jitter) within that timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One read-write transaction: BEGIN IMMEDIATE on SQLite, READ COMMITTED on MySQL and
    MariaDB (so a row read after taking a lock is the latest committed one)."""
    with engine.connect() as conn:
        options: dict[str, Any] = {_WRITE: True}
        if is_mysql(conn):
            options["isolation_level"] = "READ COMMITTED"
        conn.execution_options(**options)
        with conn.begin():
            yield conn


def inserted_id(result: CursorResult[Any]) -> int:
    """The new primary key of a single-row INSERT."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise RuntimeError("the database returned no id for the inserted row")
    return int(key[0])


@contextmanager
def unavailable_as_error(url: str) -> Iterator[None]:
    """Database failures (other than constraint violations) become RegistryUnavailableError."""
    try:
        yield
    except exc.IntegrityError:
        raise
    except (exc.DBAPIError, exc.TimeoutError) as error:
        cause = getattr(error, "orig", None) or error
        first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause)
        raise RegistryUnavailableError(
            f"registry database {url} cannot be used: {first_line}"
        ) from error
