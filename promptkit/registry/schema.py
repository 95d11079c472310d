"""The registry's tables (SQLAlchemy Core) and the migration steps that create them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection

from promptkit.db.migrations import migration
from promptkit.db.types import UTCDateTime
from promptkit.registry.chain import row_digest

__all__ = [
    "COMPONENT",
    "METADATA",
    "ledger",
    "ledger_head",
    "model_config_history",
    "model_configs",
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


METADATA = sa.MetaData()
"""The tables as they are now. When a step changes a table, change it here too (and leave
`define_v1` alone); a test compares a migrated database with these definitions."""
define_v1(METADATA)
define_v2(METADATA)

prompts = METADATA.tables["promptkit_prompts"]
versions = METADATA.tables["promptkit_versions"]
model_configs = METADATA.tables["promptkit_model_configs"]
model_config_history = METADATA.tables["promptkit_model_config_history"]
ledger = METADATA.tables["promptkit_pin_ledger"]
ledger_head = METADATA.tables["promptkit_ledger_head"]
pins = METADATA.tables["promptkit_pins"]


@migration(COMPONENT)
def m001_registry_tables(conn: Connection) -> None:
    """Prompts, published versions, model configs with history, pins with their ledger."""
    snapshot = sa.MetaData()
    define_v1(snapshot)
    snapshot.create_all(conn)


@migration(COMPONENT)
def m002_ledger_chain(conn: Connection) -> None:
    """The ledger's hash chain: every existing row hashed in order, and the head stored."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns(ledger.name)}
    for column in ("prev_hash", "row_hash"):
        if column not in columns:
            conn.execute(sa.text(f"ALTER TABLE {ledger.name} ADD COLUMN {column} "
                                 f"VARCHAR({HASH_LEN})"))
    ledger_head.create(conn, checkfirst=True)
    previous: str | None = None
    last: int | None = None
    for row in conn.execute(sa.select(ledger).order_by(ledger.c.id)).mappings().all():
        digest = row_digest(dict(row), previous)
        conn.execute(ledger.update().where(ledger.c.id == row["id"])
                     .values(prev_hash=previous, row_hash=digest))
        previous, last = digest, row["id"]
    conn.execute(ledger_head.insert().values(id=1, ledger_id=last, row_hash=previous))
