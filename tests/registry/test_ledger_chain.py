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
from promptkit.db.migrations import MIGRATIONS_TABLE
from promptkit.registry import Registry, schema
from promptkit.registry.chain import CHAINED_FIELDS, LedgerHead, entry_digest
from promptkit.registry.schema import chain_head, ledger
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
    assert check.problem == f"pin ledger row {second} was changed after it was written"


def test_a_deleted_row_is_found_at_the_row_after_it(moved: Registry) -> None:
    rows = ids(moved)
    sql(moved, sa.delete(ledger).where(ledger.c.id == rows[2]))
    check = moved.verify_ledger()
    assert check.row == rows[3]
    assert (f"pin ledger row {rows[3]} does not follow pin ledger row {rows[1]}: an entry "
            f"between them was deleted") in (check.problem or "")


def test_the_newest_row_deleted_is_found_against_the_head(moved: Registry) -> None:
    rows = ids(moved)
    with moved.engine.begin() as conn:  # the staging pin points at the row: it goes first
        conn.execute(sa.text("DELETE FROM promptkit_pins WHERE env = 'staging'"))
        conn.execute(sa.delete(ledger).where(ledger.c.id == rows[-1]))
    check = moved.verify_ledger()
    assert not check.ok and "entries after it were deleted" in (check.problem or "")


def test_a_row_inserted_by_hand_is_named(moved: Registry) -> None:
    row = {"name": "sentiment", "env": "production", "from_version": "1.1.0",
           "to_version": "1.2.0", "content_hash": "sha256:" + "0" * 64, "actor": "mallory",
           "at": datetime.now(UTC), "reason": "quietly", "action": "pin"}
    sql(moved, ledger.insert().values(**row))
    check = moved.verify_ledger()
    assert check.row == ids(moved)[-1]
    assert check.problem == (f"pin ledger row {ids(moved)[-1]} has no hash: it was inserted "
                             f"by hand")


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
            row["prev_hash"], row["row_hash"] = previous, entry_digest("pin", row, previous)
            conn.execute(ledger.update().where(ledger.c.id == row["id"]).values(
                reason=row["reason"], prev_hash=row["prev_hash"], row_hash=row["row_hash"]))
            previous = row["row_hash"]
        conn.execute(sa.update(chain_head).values(row_hash=previous))
    assert moved.verify_ledger().ok  # consistent in itself
    check = moved.verify_ledger(kept)
    assert not check.ok and "the history was rewritten" in (check.problem or "")


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
        0, f"history verified: 2 entries, head {registry.ledger_head().line()}\n")
    first = ids(registry)[0]
    sql(registry, ledger.update().where(ledger.c.id == first).values(actor="someone else"))
    code, out = run("--verify")
    assert (code, out) == (1, f"history broken: pin ledger row {first} was changed after it "
                           f"was written\n")
    pins = CliRunner().invoke(cli, ["--project", str(project), "pins"])
    assert pins.exit_code == 0 and "sentiment" in pins.stdout
    assert pins.stderr == (f"warning: the registry's hash chain is broken (pin ledger row "
                           f"{first} was changed after it was written); these pins may not be "
                           f"what the ledger says they are\n")


def test_a_registry_from_before_the_chain_is_chained_by_the_migrations(
    tmp_path: Path, library: PromptLibrary
) -> None:
    """A database at m001 with pin moves, a config change and a gate verdict (stored as the
    evals component did then) is chained by m002 and m003: the pin moves first, keeping the
    hashes m002 gave them, then the rest by time; and it goes on from there."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        old = sa.MetaData()
        schema.define_v1(old)
        gates_v1 = schema._gate_results_v1(old)
        old.create_all(conn)
        MIGRATIONS_TABLE.create(conn)
        for step in ("m001_registry_tables",):
            conn.execute(MIGRATIONS_TABLE.insert().values(
                component="registry", name=step, applied_at=datetime.now()))
    registry = Registry(str(engine.url))
    with engine.begin() as conn:  # as the code of then wrote them
        prompt = library.load("sentiment", "1.0.0")
        now = datetime.now(UTC)
        conn.execute(old.tables["promptkit_prompts"].insert().values(
            name="sentiment", created_at=now, created_by="old"))
        conn.execute(old.tables["promptkit_versions"].insert().values(
            name="sentiment", version="1.0.0", content_hash=prompt.content_hash,
            source=prompt.source, meta={}, published_at=now, published_by="old"))
        for reason in ("one", "two"):
            conn.execute(old.tables["promptkit_pin_ledger"].insert().values(
                name="sentiment", env="production", from_version=None, to_version="1.0.0",
                content_hash=prompt.content_hash, actor="old", at=now, reason=reason,
                action="pin"))
        conn.execute(old.tables["promptkit_model_config_history"].insert().values(
            name="default", revision=1, config={"name": "default", "model": "m"},
            actor="old", at=now, reason="create"))
        conn.execute(gates_v1.insert().values(
            name="sentiment", candidate_version="1.0.0", candidate_hash=prompt.content_hash,
            baseline_version="1.0.0", baseline_hash=prompt.content_hash, passed=True,
            summary="{}", at=now, actor="old"))
    applied = registry.migrate()
    assert "registry:m002_ledger_chain" in applied and "registry:m003_one_chain" in applied
    check = registry.verify_ledger(LedgerHead(2, _m002_hash(registry, 2)))
    assert check.ok and check.rows == 4 and check.head.seq == 4
    registry.publish_library(library, ["sentiment"])
    registry.pin("sentiment", "1.1.0", env="production", reason="three")
    assert registry.verify_ledger().rows == 5 and registry.verify_ledger().ok
    registry.close()


def _m002_hash(registry: Registry, ledger_id: int) -> str:
    """The hash m002 gives pin ledger row `ledger_id`: over the pin fields alone."""
    with registry.engine.connect() as conn:
        rows = conn.execute(sa.select(ledger).where(ledger.c.id <= ledger_id)
                            .order_by(ledger.c.id)).mappings().all()
    previous = None
    for row in rows:
        previous = entry_digest("pin", {f: row[f] for f in CHAINED_FIELDS["pin"]}, previous)
    assert previous is not None
    return previous
