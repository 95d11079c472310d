"""A tamper-evident ledger: a row changed, deleted or inserted by hand with one SQL statement
is found by `promptkit history --verify`, naming the row; a rewrite of the whole table with
recomputed hashes is caught against a head exported before it. On SQLite, PostgreSQL and
MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.registry import Registry
from promptkit.registry.chain import LedgerHead, row_digest
from promptkit.registry.schema import ledger, ledger_head
from promptkit.templates.library import PromptLibrary


@pytest.fixture
def moved(db_url: str, library: PromptLibrary) -> Registry:
    registry = Registry(db_url)
    registry.publish_library(library)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        registry.pin("sentiment", version, env="production", reason=f"ship {version}")
    registry.rollback("sentiment", env="production", reason="incident")
    registry.pin("support_assistant", "1.0.0", env="staging", reason="try it")
    return registry


def ids(registry: Registry) -> list[int]:
    with registry.engine.connect() as conn:
        return list(conn.scalars(sa.select(ledger.c.id).order_by(ledger.c.id)))


def sql(registry: Registry, statement: sa.Executable) -> None:
    with registry.engine.begin() as conn:
        conn.execute(statement)


def test_an_untouched_ledger_verifies(moved: Registry) -> None:
    check = moved.verify_ledger()
    assert check.ok and check.rows == 5
    assert check.head == LedgerHead(ids(moved)[-1], check.head.row_hash)


def test_a_changed_row_is_named(moved: Registry) -> None:
    second = ids(moved)[1]
    sql(moved, ledger.update().where(ledger.c.id == second).values(to_version="1.2.0"))
    check = moved.verify_ledger()
    assert (check.ok, check.row) == (False, second)
    assert check.problem == f"row {second} was changed after it was written"


def test_a_deleted_row_is_found_at_the_row_after_it(moved: Registry) -> None:
    rows = ids(moved)
    sql(moved, sa.delete(ledger).where(ledger.c.id == rows[2]))
    check = moved.verify_ledger()
    assert check.row == rows[3]
    assert f"row {rows[3]} does not follow row {rows[1]}: a row between them was deleted" in (
        check.problem or "")


def test_the_newest_row_deleted_is_found_against_the_head(moved: Registry) -> None:
    rows = ids(moved)
    with moved.engine.begin() as conn:  # the staging pin points at the row: it goes first
        conn.execute(sa.text("DELETE FROM promptkit_pins WHERE env = 'staging'"))
        conn.execute(sa.delete(ledger).where(ledger.c.id == rows[-1]))
    check = moved.verify_ledger()
    assert not check.ok and "rows after it were deleted" in (check.problem or "")


def test_a_row_inserted_by_hand_is_named(moved: Registry) -> None:
    row = {"name": "sentiment", "env": "production", "from_version": "1.1.0",
           "to_version": "1.2.0", "content_hash": "sha256:" + "0" * 64, "actor": "mallory",
           "at": datetime.now(UTC), "reason": "quietly", "action": "pin"}
    sql(moved, ledger.insert().values(**row))
    check = moved.verify_ledger()
    assert check.row == ids(moved)[-1]
    assert check.problem == f"row {ids(moved)[-1]} has no hash: it was inserted by hand"


def test_a_rewrite_of_the_whole_table_is_caught_against_an_exported_head(
    moved: Registry, tmp_path: Path
) -> None:
    kept = moved.ledger_head()
    with moved.engine.begin() as conn:  # rewrite a row and re-hash every row after it
        rows = [dict(r) for r in conn.execute(sa.select(ledger).order_by(ledger.c.id))
                .mappings()]
        rows[1]["reason"] = "nothing to see"
        previous = None
        for row in rows:
            row["prev_hash"], row["row_hash"] = previous, row_digest(row, previous)
            conn.execute(ledger.update().where(ledger.c.id == row["id"]).values(
                reason=row["reason"], prev_hash=row["prev_hash"], row_hash=row["row_hash"]))
            previous = row["row_hash"]
        conn.execute(sa.update(ledger_head).values(row_hash=previous))
    assert moved.verify_ledger().ok  # consistent in itself
    check = moved.verify_ledger(kept)
    assert not check.ok and "the ledger was rewritten" in (check.problem or "")


def test_history_verify_exits_1_naming_the_row_and_0_when_untouched(
    project: Path, library: PromptLibrary,
) -> None:
    url = f"sqlite:///{project / '.promptkit' / 'promptkit.db'}"
    registry = Registry(url)
    registry.publish_library(library)
    registry.pin("sentiment", "1.0.0", env="production", reason="first")
    registry.pin("sentiment", "1.1.0", env="production", reason="second")

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["--project", str(project), "history", *args])
        return result.exit_code, result.stdout + result.stderr

    head_file = project / "head.txt"
    assert run("--verify", "--export-head", str(head_file))[0] == 0
    assert run("--verify", "--head", str(head_file)) == (
        0, f"ledger verified: 2 rows, head {registry.ledger_head().line()}\n")
    first = ids(registry)[0]
    sql(registry, ledger.update().where(ledger.c.id == first).values(actor="someone else"))
    code, out = run("--verify")
    assert (code, out) == (1, f"ledger broken: row {first} was changed after it was written\n")
    pins = CliRunner().invoke(cli, ["--project", str(project), "pins"])
    assert pins.exit_code == 0 and "sentiment" in pins.stdout
    assert pins.stderr == (f"warning: the pin ledger's hash chain is broken (row {first} was "
                           f"changed after it was written); these pins may not be what the "
                           f"ledger says they are\n")


def test_an_existing_ledger_is_chained_by_the_migration(
    tmp_path: Path, library: PromptLibrary
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    registry = Registry(url)
    registry.publish_library(library)
    registry.pin("sentiment", "1.0.0", env="production", reason="one")
    registry.pin("sentiment", "1.1.0", env="production", reason="two")
    with registry.engine.begin() as conn:  # as a registry written before the chain was
        conn.execute(ledger.update().values(prev_hash=None, row_hash=None))
        conn.execute(sa.text("DROP TABLE promptkit_ledger_head"))
        conn.execute(sa.text("DELETE FROM promptkit_migrations "
                             "WHERE name = 'm002_ledger_chain'"))
    registry.close()
    upgraded = Registry(url)
    check = upgraded.verify_ledger()
    assert check.ok and check.rows == 2 and check.head.ledger_id == 2
    upgraded.pin("sentiment", "1.2.0", env="production", reason="three")
    assert upgraded.verify_ledger().rows == 3 and upgraded.verify_ledger().ok
