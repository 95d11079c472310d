"""The pin ledger as a hash chain: each row carries the hash of its content and of the row
before it, so a row changed, deleted or inserted by hand, even with one SQL statement by
someone holding the database URL, is found by `promptkit history --verify`.

    row_hash = sha256(name, env, from, to, content_hash, actor, at, reason, action, prev_hash)

The head (the newest row's id and hash) is kept in `promptkit_ledger_head`, updated in the
same transaction as the row, under a lock that serialises the chain's writers. A rewrite of
the whole table with hashes recomputed is caught only against a head the team kept
elsewhere (`--export-head` to a CI artifact, `--head` to check against it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptkit.hashing import content_hash

__all__ = ["CHAINED_FIELDS", "ChainCheck", "LedgerHead", "row_digest", "verify_chain"]

CHAINED_FIELDS = ("name", "env", "from_version", "to_version", "content_hash", "actor", "at",
                  "reason", "action")
"""What a row's hash covers, besides the hash of the row before it."""


@dataclass(frozen=True)
class LedgerHead:
    """The newest row of the chain (None: an empty ledger)."""

    ledger_id: int | None
    row_hash: str | None

    def line(self) -> str:
        return f"r{self.ledger_id} {self.row_hash}" if self.ledger_id else "empty"


@dataclass(frozen=True)
class ChainCheck:
    """What verifying the chain found: the first problem, naming its row, or none."""

    rows: int
    head: LedgerHead
    problem: str | None = None
    row: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def row_digest(row: Mapping[str, Any], prev_hash: str | None) -> str:
    """The hash a ledger row must carry."""
    values = {field: row[field] for field in CHAINED_FIELDS}
    values["at"] = values["at"].isoformat()
    return content_hash({**values, "prev_hash": prev_hash})


def verify_chain(rows: Sequence[Mapping[str, Any]], head: LedgerHead,
                 kept: LedgerHead | None = None) -> ChainCheck:
    """Check `rows` (oldest first) link up and hash right, end at the stored head, and pass
    through the head the team `kept` elsewhere when one is given."""
    previous: Mapping[str, Any] | None = None
    for row in rows:
        problem = _row_problem(row, previous)
        if problem is not None:
            return ChainCheck(len(rows), head, problem, row["id"])
        previous = row
    last = LedgerHead(previous["id"], previous["row_hash"]) if previous else LedgerHead(None, None)
    if last != head:
        return ChainCheck(len(rows), head, f"the ledger ends at {last.line()} but its head "
                          f"says {head.line()}: rows after it were deleted", last.ledger_id)
    if kept is not None and kept.ledger_id is not None:
        match = next((r for r in rows if r["id"] == kept.ledger_id), None)
        if match is None or match["row_hash"] != kept.row_hash:
            return ChainCheck(len(rows), head, f"the kept head {kept.line()} is not in the "
                              f"chain: the ledger was rewritten", kept.ledger_id)
    return ChainCheck(len(rows), head)


def _row_problem(row: Mapping[str, Any], previous: Mapping[str, Any] | None) -> str | None:
    if row["row_hash"] is None:
        return f"row {row['id']} has no hash: it was inserted by hand"
    expected_prev = previous["row_hash"] if previous is not None else None
    if row["prev_hash"] != expected_prev:
        before = f"row {previous['id']}" if previous is not None else "the start"
        return (f"row {row['id']} does not follow {before}: a row between them was deleted, "
                f"or this one was inserted out of order")
    if row_digest(row, row["prev_hash"]) != row["row_hash"]:
        return f"row {row['id']} was changed after it was written"
    return None
