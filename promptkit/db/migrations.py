"""Schema migrations: small named functions per component, applied once, recorded in a table.

A component (the registry, later the call log) registers its steps in order:

    @migration("calllog")
    def m001_call_log(conn: Connection) -> None:
        ...

`migrate(engine)` applies every registered step that the database has not recorded yet,
under a lock that makes it safe for several processes to open the database at once.
Steps must never change once released: a schema change is a new step.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from promptkit.db.engine import is_mysql, write_transaction
from promptkit.errors import RegistryUnavailableError

__all__ = ["MIGRATIONS_TABLE", "Migration", "add_columns", "applied", "migrate", "migration",
           "registered"]

MigrationStep = Callable[[Connection], None]

_LOCK_NAME = "promptkit_migrations"
_PG_LOCK_KEY = 0x70726F6D  # "prom"
_MYSQL_LOCK_WAIT_S = 60

MIGRATIONS_TABLE = sa.Table(
    "promptkit_migrations",
    sa.MetaData(),
    sa.Column("component", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("applied_at", sa.DateTime(), nullable=False),
)


@dataclass(frozen=True)
class Migration:
    """One step of one component's schema history."""

    component: str
    name: str
    apply: MigrationStep


_STEPS: dict[str, list[Migration]] = {}
_CHECKED: weakref.WeakKeyDictionary[Engine, set[tuple[str, str]]] = weakref.WeakKeyDictionary()
"""Per engine, the steps known to be applied (so the check runs once per process)."""


def migration(component: str) -> Callable[[MigrationStep], MigrationStep]:
    """Register the decorated function as the next step of `component` (name = its name)."""

    def register(step: MigrationStep) -> MigrationStep:
        steps = _STEPS.setdefault(component, [])
        for index, known in enumerate(steps):
            if known.name != step.__name__:
                continue
            if not _reimported(known.apply, step):
                raise ValueError(f"migration {component}:{step.__name__} is registered twice")
            steps[index] = Migration(component, step.__name__, step)
            return step
        steps.append(Migration(component, step.__name__, step))
        return step

    return register


def _reimported(old: MigrationStep, new: MigrationStep) -> bool:
    """The same step defined again because its module was imported anew (importlib.reload,
    or a test runner that unloads modules between sessions)."""
    old_code, new_code = getattr(old, "__code__", None), getattr(new, "__code__", None)
    return (old is not new and old.__module__ == new.__module__ and old_code is not None
            and new_code is not None and old_code.co_firstlineno == new_code.co_firstlineno)


def add_columns(conn: Connection, table: sa.Table, names: tuple[str, ...]) -> None:
    """For a step that adds columns: ALTER TABLE ADD COLUMN for each of `names` the table
    does not have yet, typed as `table` (the step's frozen snapshot) declares it."""
    present = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in present:
            kind = table.c[name].type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))


def registered(components: Iterable[str] | None = None) -> list[Migration]:
    """The registered steps, component by component, each in registration order."""
    names = list(_STEPS) if components is None else list(components)
    return [m for name in names for m in _STEPS.get(name, [])]


def applied(conn: Connection) -> set[tuple[str, str]]:
    """(component, name) of every step the database has recorded."""
    if not sa.inspect(conn).has_table(MIGRATIONS_TABLE.name):
        return set()
    rows = conn.execute(sa.select(MIGRATIONS_TABLE.c.component, MIGRATIONS_TABLE.c.name))
    return {(r.component, r.name) for r in rows}


def migrate(engine: Engine, components: Iterable[str] | None = None) -> list[str]:
    """Apply the pending steps; returns `component:name` of each step applied here. Checked
    once per engine and set of steps in this process: a later call with nothing newly
    registered costs no query."""
    steps = registered(components)
    wanted = {(m.component, m.name) for m in steps}
    known = _CHECKED.setdefault(engine, set())
    if wanted <= known:
        return []
    with engine.connect() as conn:
        if wanted <= applied(conn):
            known |= wanted
            return []
    done: list[str] = []
    with _migration_lock(engine) as conn:
        MIGRATIONS_TABLE.create(conn, checkfirst=True)
        already = applied(conn)
        for step in steps:
            if (step.component, step.name) in already:
                continue
            step.apply(conn)
            conn.execute(MIGRATIONS_TABLE.insert().values(
                component=step.component, name=step.name,
                applied_at=datetime.now(UTC).replace(tzinfo=None),
            ))
            done.append(f"{step.component}:{step.name}")
    known |= wanted
    return done


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that only one process at a time can hold."""
    if engine.dialect.name == "postgresql":
        with write_transaction(engine) as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            yield conn
    elif is_mysql(engine):
        with _mysql_named_lock(engine) as conn, conn.begin():
            yield conn
    else:
        with write_transaction(engine) as conn:  # SQLite: BEGIN IMMEDIATE, DDL included
            yield conn


@contextmanager
def _mysql_named_lock(engine: Engine) -> Iterator[Connection]:
    """MySQL's DDL commits implicitly, so the lock is a session-level named lock."""
    with engine.connect() as conn:
        got = conn.execute(
            sa.text("SELECT GET_LOCK(:name, :wait)"),
            {"name": _LOCK_NAME, "wait": _MYSQL_LOCK_WAIT_S},
        ).scalar()
        conn.commit()
        if got != 1:
            raise RegistryUnavailableError(
                f"another process held the {_LOCK_NAME} lock for over {_MYSQL_LOCK_WAIT_S} s"
            )
        try:
            yield conn
        finally:
            conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": _LOCK_NAME})
            conn.commit()
