"""The database side of the registry's hash chain: appending an entry under the head's lock,
reading every entry back to verify them, and checking the entry under one pin."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from promptkit.db.engine import inserted_id
from promptkit.registry.chain import ChainCheck, Entry, LedgerHead, entry_digest, verify_chain
from promptkit.registry.records import Pin
from promptkit.registry.schema import CHAINED_TABLES, chain_head, ledger

__all__ = ["ChainWriter", "check_chain", "check_pin", "read_head"]


class ChainWriter:
    """Appends entries to the chain within one write transaction. `lock` takes the head
    row (and asks the database who is connected, in the same statement): the chain's
    writers take turns, and every governed change takes this lock first."""

    def __init__(self, conn: Connection, head: LedgerHead, db_user: str | None) -> None:
        self.conn = conn
        self.head = head
        self.db_user = db_user

    @classmethod
    def lock(cls, conn: Connection) -> ChainWriter:
        columns: list[Any] = [chain_head.c.seq, chain_head.c.row_hash]
        if conn.dialect.name != "sqlite":  # SQLite has no users
            columns.append(sa.func.current_user())
        row = conn.execute(sa.select(*columns).where(chain_head.c.id == 1)
                           .with_for_update()).first()
        if row is None:
            raise RuntimeError("the registry's chain head is missing: was m003 applied?")
        return cls(conn, LedgerHead(row[0], row[1]), row[2] if len(row) > 2 else None)

    def append(self, kind: str, values: Mapping[str, Any]) -> int:
        """Insert one entry of `kind` after the head; returns its id in its table."""
        row = {k: _utc(v) for k, v in values.items()} | {"db_user": self.db_user}
        digest = entry_digest(kind, row, self.head.row_hash)
        seq = (self.head.seq or 0) + 1
        new_id = inserted_id(self.conn.execute(CHAINED_TABLES[kind].insert().values(
            **row, chain_seq=seq, prev_hash=self.head.row_hash, row_hash=digest)))
        self.conn.execute(chain_head.update().where(chain_head.c.id == 1)
                          .values(seq=seq, row_hash=digest))
        self.head = LedgerHead(seq, digest)
        return new_id


def _utc(value: Any) -> Any:
    """Datetimes as the database gives them back (aware, UTC), so the hash written is the
    hash read."""
    if not isinstance(value, datetime):
        return value
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def read_head(conn: Connection) -> LedgerHead:
    row = conn.execute(sa.select(chain_head.c.seq, chain_head.c.row_hash)
                       .where(chain_head.c.id == 1)).first()
    return LedgerHead(row[0], row[1]) if row is not None else LedgerHead(None, None)


def check_chain(conn: Connection, kept: LedgerHead | None = None) -> ChainCheck:
    """Verify every chained entry (see `promptkit.registry.chain`)."""
    entries = [
        Entry(kind, row["id"], row["chain_seq"], row["prev_hash"], row["row_hash"], dict(row))
        for kind, table in CHAINED_TABLES.items()
        for row in conn.execute(sa.select(table)).mappings()
    ]
    return verify_chain(entries, read_head(conn), kept)


def check_pin(conn: Connection, pin: Pin) -> str | None:
    """What is wrong under `pin`, or None: the ledger row it names must exist, hash right
    and say the version and content the pin serves (a pin set by hand does not)."""
    found = conn.execute(sa.select(ledger).where(ledger.c.id == pin.ledger_id)).mappings().first()
    if found is None:
        return f"the pin names pin ledger row {pin.ledger_id}, which is gone"
    row = dict(found)
    if row["row_hash"] is None or entry_digest("pin", row, row["prev_hash"]) != row["row_hash"]:
        return f"pin ledger row {pin.ledger_id}, which put the pin there, was changed"
    if (row["to_version"], row["content_hash"]) != (pin.version, pin.content_hash):
        return (f"pin ledger row {pin.ledger_id} moved it to {row['to_version']}: the pin was "
                f"set by hand")
    return None
