"""The registry's history as one hash chain: every pin move, model-config change, gate
verdict, rule change and approval carries the hash of its content and of the entry before
it, so an entry changed, deleted or inserted by hand, even with one SQL statement by
someone holding the database URL, is found by `promptkit history --verify`.

    row_hash = sha256(kind, the entry's fields, db_user when known, prev_hash)

Entries live in the tables of their kind, ordered across them by `chain_seq`. The head
(the newest entry's sequence number and hash) is kept in `promptkit_chain_head`, updated in
the same transaction as the entry, under a lock that serialises the chain's writers. A
rewrite of every table with hashes recomputed is caught only against a head the team kept
elsewhere (`--export-head` to a CI artifact, `--head` to check against it).

This module is the pure part (what is hashed, how the chain is checked); the database side
is `promptkit.registry.chained`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptkit.hashing import content_hash

__all__ = ["CHAINED_FIELDS", "ChainCheck", "Entry", "LedgerHead", "entry_digest",
           "verify_chain"]

CHAINED_FIELDS: dict[str, tuple[str, ...]] = {
    "pin": ("name", "env", "from_version", "to_version", "content_hash", "actor", "at",
            "reason", "action"),
    "config": ("name", "revision", "config", "previous", "actor", "at", "reason"),
    "gate": ("name", "candidate_version", "candidate_hash", "baseline_version",
             "baseline_hash", "baseline_label", "passed", "summary", "actor", "at"),
    "rules": ("env", "revision", "rules", "previous", "actor", "at", "reason"),
    "approval": ("request_id", "event", "name", "env", "version", "content_hash", "action",
                 "expect_hash", "actor", "at", "reason"),
}
"""What each kind's hash covers, besides the database user (when known) and the hash of
the entry before it."""

KIND_NAMES = {"pin": "pin ledger row", "config": "config change", "gate": "gate",
              "rules": "rule change", "approval": "approval event"}


@dataclass(frozen=True)
class LedgerHead:
    """The newest entry of the chain: its sequence number and hash (None: empty)."""

    seq: int | None
    row_hash: str | None

    def line(self) -> str:
        return f"r{self.seq} {self.row_hash}" if self.seq else "empty"


@dataclass(frozen=True)
class Entry:
    """One chained row as stored: its kind, its table's id, its place and hashes."""

    kind: str
    id: int
    seq: int | None
    prev_hash: str | None
    row_hash: str | None
    row: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{KIND_NAMES[self.kind]} {self.id}"


@dataclass(frozen=True)
class ChainCheck:
    """What verifying the chain found: the first problem, naming its entry, or none."""

    rows: int
    head: LedgerHead
    problem: str | None = None
    row: int | None = None
    kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def entry_digest(kind: str, row: Mapping[str, Any], prev_hash: str | None) -> str:
    """The hash an entry of `kind` must carry. A pin move hashes exactly as it did before
    other kinds joined the chain (so heads exported then still verify)."""
    values = {field: _plain(row[field]) for field in CHAINED_FIELDS[kind]}
    if row.get("db_user") is not None:
        values["db_user"] = row["db_user"]
    if kind != "pin":
        values["kind"] = kind
    return content_hash({**values, "prev_hash": prev_hash})


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def verify_chain(entries: Sequence[Entry], head: LedgerHead,
                 kept: LedgerHead | None = None) -> ChainCheck:
    """Check the entries (every chained row, in `seq` order, unsequenced ones anywhere)
    link up and hash right, end at the stored head, and pass through the head the team
    `kept` elsewhere when one is given."""
    ordered = sorted(entries, key=lambda e: (e.seq is not None, e.seq or 0))
    previous: Entry | None = None
    for entry in ordered:
        problem = _entry_problem(entry, previous)
        if problem is not None:
            return ChainCheck(len(entries), head, problem, entry.id, entry.kind)
        previous = entry
    last = LedgerHead(previous.seq, previous.row_hash) if previous else LedgerHead(None, None)
    if last != head:
        return ChainCheck(len(entries), head, f"the chain ends at {last.line()} but its head "
                          f"says {head.line()}: entries after it were deleted",
                          previous.id if previous else None, previous.kind if previous else None)
    if kept is not None and kept.seq is not None:
        match = next((e for e in ordered if e.seq == kept.seq), None)
        if match is None or match.row_hash != kept.row_hash:
            return ChainCheck(len(entries), head, f"the kept head {kept.line()} is not in the "
                              f"chain: the history was rewritten")
    return ChainCheck(len(entries), head)


def _entry_problem(entry: Entry, previous: Entry | None) -> str | None:
    if entry.row_hash is None or entry.seq is None:
        return f"{entry.label} has no hash: it was inserted by hand"
    if previous is not None and previous.seq == entry.seq:
        return f"{entry.label} claims the place of {previous.label}: it was inserted by hand"
    expected_prev = previous.row_hash if previous is not None else None
    if entry.prev_hash != expected_prev:
        before = previous.label if previous is not None else "the start"
        return (f"{entry.label} does not follow {before}: an entry between them was deleted, "
                f"or this one was inserted out of order")
    if entry_digest(entry.kind, entry.row, entry.prev_hash) != entry.row_hash:
        return f"{entry.label} was changed after it was written"
    return None
