"""Migrations: the migrated schema equals the table definitions; other components can add
their own steps; a second open changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import promptkit.db.migrations as migrate_module
from promptkit.db.migrations import MIGRATIONS_TABLE, registered
from promptkit.registry import Registry, migrate, migration
from promptkit.registry.schema import METADATA


def test_the_migrated_schema_is_the_one_the_code_queries(db_url: str) -> None:
    registry = Registry(db_url)
    applied = registry.migrate()  # every registered component (other modules add theirs)
    assert "registry:m001_registry_tables" in applied
    assert len(applied) == len(registered())
    assert registry.migrate() == []
    inspector = sa.inspect(registry.engine)
    assert set(METADATA.tables) <= set(inspector.get_table_names())
    for table in METADATA.tables.values():
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(columns) == {c.name for c in table.columns}, table.name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (table, column)
        primary = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert primary == [c.name for c in table.primary_key.columns], table.name
    registry.close()


def test_another_component_registers_its_own_steps(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate_module, "_STEPS", {k: list(v) for k, v in
                                                    migrate_module._STEPS.items()})

    @migration("calllog")
    def m001_calls(conn: Connection) -> None:
        conn.execute(sa.text("CREATE TABLE promptkit_calls (id INTEGER PRIMARY KEY)"))

    @migration("calllog")
    def m002_calls_model(conn: Connection) -> None:
        conn.execute(sa.text("ALTER TABLE promptkit_calls ADD COLUMN model VARCHAR(100)"))

    with pytest.raises(ValueError, match="registered twice"):
        migration("calllog")(m001_calls)
    engine = Registry(sqlite_url).engine
    assert migrate(engine, ["calllog"]) == ["calllog:m001_calls", "calllog:m002_calls_model"]
    assert migrate(engine, ["registry"]) == ["registry:m001_registry_tables",
                                             "registry:m002_ledger_chain",
                                             "registry:m003_one_chain",
                                             "registry:m004_canaries"]
    migrate(engine)
    assert migrate(engine) == []
    with engine.connect() as conn:
        recorded = conn.execute(sa.select(MIGRATIONS_TABLE.c.component, MIGRATIONS_TABLE.c.name)
                                ).all()
    assert sorted(recorded) == sorted((m.component, m.name) for m in registered())
    assert "model" in {c["name"] for c in sa.inspect(engine).get_columns("promptkit_calls")}


def test_migrations_are_checked_once_per_engine_not_on_every_read(tmp_path: Path) -> None:
    """The results and gate stores call migrate() before each read and write: after the
    first check it must cost no statement at all."""
    from sqlalchemy import event

    from promptkit.evals.store import ResultStore

    registry = Registry(f"sqlite:///{tmp_path / 'once.db'}")
    registry.migrate()
    statements: list[str] = []
    event.listen(registry.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql))
    for _ in range(5):
        registry.migrate()
    assert statements == []
    ResultStore(registry).runs()  # a read through the store: its query only
    assert not any("promptkit_migrations" in s for s in statements), statements
    registry.close()
