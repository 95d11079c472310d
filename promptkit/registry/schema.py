"""The registry's tables (SQLAlchemy Core) and the migration steps that create them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection

from promptkit.db.migrations import add_columns, migration
from promptkit.db.types import UTCDateTime
from promptkit.registry.chain import entry_digest

__all__ = [
    "CHAINED_TABLES",
    "COMPONENT",
    "METADATA",
    "canaries",
    "chain_head",
    "env_rule_history",
    "env_rules",
    "gate_results",
    "ledger",
    "model_config_history",
    "model_configs",
    "move_requests",
    "pins",
    "prompts",
    "versions",
]

COMPONENT = "registry"

NAME_LEN, VERSION_LEN, ENV_LEN, HASH_LEN, ACTOR_LEN = 200, 64, 100, 80, 200


def _long_text() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def define_v1(metadata: sa.MetaData) -> None:
    """The first shape of the tables. Frozen: migration m001 creates exactly this."""
    def name() -> sa.Column[str]:
        return sa.Column("name", sa.String(NAME_LEN), nullable=False)

    sa.Table(
        "promptkit_prompts", metadata,
        sa.Column("name", sa.String(NAME_LEN), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(ACTOR_LEN), nullable=False),
    )
    sa.Table(
        "promptkit_versions", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        name(),
        sa.Column("version", sa.String(VERSION_LEN), nullable=False),
        sa.Column("content_hash", sa.String(HASH_LEN), nullable=False),
        sa.Column("source", _long_text(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("git_author", sa.String(320)),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("published_by", sa.String(ACTOR_LEN), nullable=False),
        sa.ForeignKeyConstraint(["name"], ["promptkit_prompts.name"]),
        sa.UniqueConstraint("name", "version", name="uq_promptkit_versions_name_version"),
        sqlite_autoincrement=True,
    )
    sa.Table(
        "promptkit_model_configs", metadata,
        sa.Column("name", sa.String(NAME_LEN), primary_key=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(ACTOR_LEN), nullable=False),
    )
    sa.Table(
        "promptkit_model_config_history", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        name(),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("previous", sa.JSON()),
        sa.Column("actor", sa.String(ACTOR_LEN), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Index("ix_promptkit_model_config_history_name", "name", "id"),
        sqlite_autoincrement=True,
    )
    sa.Table(
        "promptkit_pin_ledger", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        name(),
        sa.Column("env", sa.String(ENV_LEN), nullable=False),
        sa.Column("from_version", sa.String(VERSION_LEN)),
        sa.Column("to_version", sa.String(VERSION_LEN), nullable=False),
        sa.Column("content_hash", sa.String(HASH_LEN), nullable=False),
        sa.Column("actor", sa.String(ACTOR_LEN), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "to_version"], ["promptkit_versions.name", "promptkit_versions.version"]
        ),
        sa.Index("ix_promptkit_pin_ledger_name_env", "name", "env", "id"),
        sqlite_autoincrement=True,
    )
    sa.Table(
        "promptkit_pins", metadata,
        sa.Column("name", sa.String(NAME_LEN), primary_key=True),
        sa.Column("env", sa.String(ENV_LEN), primary_key=True),
        sa.Column("version", sa.String(VERSION_LEN), nullable=False),
        sa.Column("content_hash", sa.String(HASH_LEN), nullable=False),
        sa.Column("moved_at", UTCDateTime(), nullable=False),
        sa.Column("moved_by", sa.String(ACTOR_LEN), nullable=False),
        sa.Column("ledger_id", sa.Integer, sa.ForeignKey("promptkit_pin_ledger.id"),
                  nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"], ["promptkit_versions.name", "promptkit_versions.version"]
        ),
    )


def define_v2(metadata: sa.MetaData) -> None:
    """What m002 adds: the ledger's hash chain and its head. Frozen, like `define_v1`."""
    ledger_table = metadata.tables["promptkit_pin_ledger"]
    ledger_table.append_column(sa.Column("prev_hash", sa.String(HASH_LEN)))
    ledger_table.append_column(sa.Column("row_hash", sa.String(HASH_LEN)))
    sa.Table(
        "promptkit_ledger_head", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ledger_id", sa.Integer),
        sa.Column("row_hash", sa.String(HASH_LEN)),
    )


def _chain_columns() -> list[sa.Column[object]]:
    """What every entry of the chain carries: its place, its hashes, the database user."""
    return [
        sa.Column("chain_seq", sa.Integer),
        sa.Column("prev_hash", sa.String(HASH_LEN)),
        sa.Column("row_hash", sa.String(HASH_LEN)),
        sa.Column("db_user", sa.String(ACTOR_LEN)),
    ]


def _gate_results_v1(metadata: sa.MetaData) -> sa.Table:
    """Gate verdicts as the evals component first stored them (`gate:m001_gate_results`)."""
    return sa.Table(
        "promptkit_gate_results", metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(NAME_LEN), nullable=False),
        sa.Column("candidate_version", sa.String(VERSION_LEN), nullable=False),
        sa.Column("candidate_hash", sa.String(HASH_LEN), nullable=False),
        sa.Column("baseline_version", sa.String(VERSION_LEN), nullable=False),
        sa.Column("baseline_hash", sa.String(HASH_LEN), nullable=False),
        sa.Column("baseline_label", sa.String(ENV_LEN)),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(ACTOR_LEN), nullable=False),
        sa.Index("ix_promptkit_gate_results_hashes", "name", "candidate_hash", "baseline_hash"),
        sqlite_autoincrement=True,
    )


def define_v3(metadata: sa.MetaData) -> None:
    """What m003 adds: one chain over pins, config changes, gates, rule changes and
    approvals (with the database user of each), protected environments, move requests.
    Frozen, like `define_v1`."""
    metadata.remove(metadata.tables["promptkit_ledger_head"])
    ledger_table = metadata.tables["promptkit_pin_ledger"]
    ledger_table.append_column(sa.Column("chain_seq", sa.Integer))
    ledger_table.append_column(sa.Column("db_user", sa.String(ACTOR_LEN)))
    for column in _chain_columns():
        metadata.tables["promptkit_model_config_history"].append_column(column)
    gates = _gate_results_v1(metadata)
    for column in _chain_columns():
        gates.append_column(column)
    sa.Table(
        "promptkit_chain_head", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer),
        sa.Column("row_hash", sa.String(HASH_LEN)),
    )
    sa.Table(
        "promptkit_env_rules", metadata,
        sa.Column("env", sa.String(ENV_LEN), primary_key=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(ACTOR_LEN), nullable=False),
    )
    sa.Table(
        "promptkit_env_rule_history", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("env", sa.String(ENV_LEN), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("previous", sa.JSON()),
        sa.Column("actor", sa.String(ACTOR_LEN), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        *_chain_columns(),
        sqlite_autoincrement=True,
    )
    sa.Table(
        "promptkit_move_requests", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Integer),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("name", sa.String(NAME_LEN), nullable=False),
        sa.Column("env", sa.String(ENV_LEN), nullable=False),
        sa.Column("version", sa.String(VERSION_LEN), nullable=False),
        sa.Column("content_hash", sa.String(HASH_LEN), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("expect_hash", sa.String(HASH_LEN)),
        sa.Column("actor", sa.String(ACTOR_LEN), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        *_chain_columns(),
        sa.Index("ix_promptkit_move_requests_request", "request_id"),
        sqlite_autoincrement=True,
    )


def define_v4(metadata: sa.MetaData) -> None:
    """What m004 adds: canaries (a share of an environment's requests served another
    version). Frozen, like `define_v1`."""
    sa.Table(
        "promptkit_canaries", metadata,
        sa.Column("name", sa.String(NAME_LEN), primary_key=True),
        sa.Column("env", sa.String(ENV_LEN), primary_key=True),
        sa.Column("version", sa.String(VERSION_LEN), nullable=False),
        sa.Column("content_hash", sa.String(HASH_LEN), nullable=False),
        sa.Column("stable_hash", sa.String(HASH_LEN), nullable=False),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("started_by", sa.String(ACTOR_LEN), nullable=False),
        sa.Column("ledger_id", sa.Integer, nullable=False),
        sa.Column("looked_at", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"], ["promptkit_versions.name", "promptkit_versions.version"]
        ),
    )


METADATA = sa.MetaData()
"""The tables as they are now. When a step changes a table, change it here too (and leave
`define_v1` alone); a test compares a migrated database with these definitions."""
define_v1(METADATA)
define_v2(METADATA)
define_v3(METADATA)
define_v4(METADATA)

prompts = METADATA.tables["promptkit_prompts"]
versions = METADATA.tables["promptkit_versions"]
model_configs = METADATA.tables["promptkit_model_configs"]
model_config_history = METADATA.tables["promptkit_model_config_history"]
ledger = METADATA.tables["promptkit_pin_ledger"]
pins = METADATA.tables["promptkit_pins"]
gate_results = METADATA.tables["promptkit_gate_results"]
chain_head = METADATA.tables["promptkit_chain_head"]
env_rules = METADATA.tables["promptkit_env_rules"]
env_rule_history = METADATA.tables["promptkit_env_rule_history"]
move_requests = METADATA.tables["promptkit_move_requests"]
canaries = METADATA.tables["promptkit_canaries"]

CHAINED_TABLES: dict[str, sa.Table] = {
    "pin": ledger, "config": model_config_history, "gate": gate_results,
    "rules": env_rule_history, "approval": move_requests,
}
"""The table of each kind of chained entry (see `promptkit.registry.chain`)."""


@migration(COMPONENT)
def m001_registry_tables(conn: Connection) -> None:
    """Prompts, published versions, model configs with history, pins with their ledger."""
    snapshot = sa.MetaData()
    define_v1(snapshot)
    snapshot.create_all(conn)


@migration(COMPONENT)
def m002_ledger_chain(conn: Connection) -> None:
    """The ledger's hash chain: every existing row hashed in order, and the head stored."""
    snapshot = sa.MetaData()
    define_v1(snapshot)
    define_v2(snapshot)
    old_ledger, head = snapshot.tables[ledger.name], snapshot.tables["promptkit_ledger_head"]
    add_columns(conn, old_ledger, ("prev_hash", "row_hash"))
    head.create(conn, checkfirst=True)
    previous: str | None = None
    last: int | None = None
    for row in conn.execute(sa.select(old_ledger).order_by(old_ledger.c.id)).mappings().all():
        digest = entry_digest("pin", dict(row), previous)
        conn.execute(old_ledger.update().where(old_ledger.c.id == row["id"])
                     .values(prev_hash=previous, row_hash=digest))
        previous, last = digest, row["id"]
    conn.execute(head.insert().values(id=1, ledger_id=last, row_hash=previous))


@migration(COMPONENT)
def m003_one_chain(conn: Connection) -> None:
    """One chain over every governed change: pin moves keep their hashes and take their id
    as their place; config changes and gate verdicts made before are appended after them,
    oldest first. Adds protected environments and move requests; the gate verdicts' table
    becomes the registry's."""
    snapshot = sa.MetaData()
    for define in (define_v1, define_v2, define_v3):
        define(snapshot)
    tables = snapshot.tables
    add_columns(conn, tables[ledger.name], ("chain_seq", "db_user"))
    conn.execute(sa.text(f"UPDATE {ledger.name} SET chain_seq = id"))
    add_columns(conn, tables[model_config_history.name],
                 ("chain_seq", "prev_hash", "row_hash", "db_user"))
    if sa.inspect(conn).has_table(gate_results.name):
        add_columns(conn, tables[gate_results.name],
                     ("chain_seq", "prev_hash", "row_hash", "db_user"))
    names = [gate_results.name, chain_head.name, env_rules.name, env_rule_history.name,
             move_requests.name]
    snapshot.create_all(conn, tables=[tables[n] for n in names], checkfirst=True)
    old_head = conn.execute(sa.text("SELECT ledger_id, row_hash FROM promptkit_ledger_head "
                                    "WHERE id = 1")).first()
    seq, previous = (old_head[0], old_head[1]) if old_head is not None else (None, None)
    earlier = [(kind, dict(row)) for kind in ("config", "gate")
               for row in conn.execute(sa.select(tables[CHAINED_TABLES[kind].name])).mappings()]
    for kind, row in sorted(earlier, key=lambda item: (item[1]["at"], item[0], item[1]["id"])):
        table = tables[CHAINED_TABLES[kind].name]
        digest, seq = entry_digest(kind, row, previous), (seq or 0) + 1
        conn.execute(table.update().where(table.c.id == row["id"])
                     .values(chain_seq=seq, prev_hash=previous, row_hash=digest))
        previous = digest
    conn.execute(tables[chain_head.name].insert().values(id=1, seq=seq, row_hash=previous))
    conn.execute(sa.text("DROP TABLE promptkit_ledger_head"))


@migration(COMPONENT)
def m004_canaries(conn: Connection) -> None:
    """Canaries: which version a share of an environment's requests get, since when."""
    snapshot = sa.MetaData()
    for define in (define_v1, define_v2, define_v3, define_v4):
        define(snapshot)
    snapshot.tables[canaries.name].create(conn, checkfirst=True)

