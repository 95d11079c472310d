"""Database engines for the registry: per-dialect options, write transactions, error mapping."""

from __future__ import annotations

import random
import re
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

from promptkit.errors import ConfigError, RegistryPermissionError, RegistryUnavailableError

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


def _first_line(error: BaseException | str) -> str:
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
    """Database failures (other than constraint violations) become RegistryUnavailableError,
    or RegistryPermissionError when the database refused the connected user."""
    try:
        yield
    except exc.IntegrityError:
        raise
    except (exc.DBAPIError, exc.TimeoutError) as error:
        cause = getattr(error, "orig", None) or error
        code, said = _driver_error(cause)
        if code in _REFUSED and isinstance(error, exc.DBAPIError):
            raise _refusal(url, error.statement, said) from error
        raise RegistryUnavailableError(
            f"registry database {url} cannot be used: {_first_line(cause)}"
        ) from error


_REFUSED: frozenset[int | str] = frozenset({"42501", 1044, 1142, 1143, 1227})
"""PostgreSQL's insufficient_privilege; MySQL/MariaDB's access denied to a database, a
table, a column, or for an administrative operation."""

_DENIED_TABLE = re.compile(
    r"permission denied for (?:table|relation|sequence|view|schema) \"?([\w$.]+)"  # PostgreSQL
    r"|(?:for|in) table [`']?(?:[^`'.]+[`']?\.[`']?)?([^`'\s]+)"  # MySQL: `db`.`t` or 't'
)
_MYSQL_USER = re.compile(r"(?:to|for) user '([^']*)'@")


def _driver_error(cause: BaseException) -> tuple[int | str | None, str]:
    """The driver's error code and the first line of its message. MySQL drivers raise
    (errno, message) and a generic `.sqlstate`; PostgreSQL's set `.sqlstate` (psycopg) or
    `.pgcode` (psycopg2)."""
    if len(cause.args) > 1 and isinstance(cause.args[0], int):
        return cause.args[0], _first_line(str(cause.args[1]))
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return (str(code) if code else None), _first_line(cause)


def _refusal(url: str, statement: str | None, said: str) -> RegistryPermissionError:
    """One line: who was refused, what, and what to do."""
    user = _user(url, said)
    kind = _statement_kind(statement)
    found = _DENIED_TABLE.search(said)
    table = next((g for g in found.groups() if g), None) if found else None
    what = " on ".join(part for part in (kind, table) if part) or "a statement"
    who = f"user {user!r}" if user else "the connected user"
    return RegistryPermissionError(
        f"registry database {url}: {who} may not run {what} ({said}); connect with a role "
        f"that may do this (see `promptkit db roles`)",
        user=user, statement=kind, table=table)


def _user(url: str, said: str) -> str | None:
    """The user from the URL, else as the database named it."""
    try:
        user = make_url(url).username
    except exc.ArgumentError:
        user = None
    named = _MYSQL_USER.search(said)
    return user or (named.group(1) if named else None)


def _statement_kind(statement: str | None) -> str | None:
    """`INSERT`, `UPDATE`, `SELECT … FOR UPDATE`: what kind of statement was refused."""
    words = (statement or "").split()
    if not words:
        return None
    kind = words[0].upper()
    if kind == "SELECT" and "FOR UPDATE" in " ".join(words).upper():
        return "SELECT … FOR UPDATE"
    return kind
