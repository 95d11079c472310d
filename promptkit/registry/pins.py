"""Pins and their ledger: every move is one transaction that appends a ledger row and sets
the pin to it, under a per-prompt lock, so the pin always equals the last ledger row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from promptkit.db.engine import inserted_id, write_transaction
from promptkit.errors import NotPublishedError, PinMovedError, UsageError
from promptkit.registry.chain import ChainCheck, LedgerHead, row_digest, verify_chain
from promptkit.registry.published import read_version
from promptkit.registry.records import ACTIONS, LedgerEntry, Pin, check_env
from promptkit.registry.schema import ledger, ledger_head, pins, prompts

__all__ = [
    "move",
    "previous_pin",
    "read_history",
    "read_pin",
    "read_pins",
    "rollback",
]


def move(
    engine: Engine, name: str, version: str, *, env: str, reason: str, actor: str,
    action: str = "pin", expect_hash: str | None = None,
) -> LedgerEntry:
    """Point `name` in `env` at a published `version`, recording who, when and why. With
    `expect_hash`, only if `env` still serves that content (compare-and-set, under the
    name's lock): a decision taken on the current pin never lands on another one."""
    _check(env, reason, action)
    with write_transaction(engine) as conn:
        _lock(conn, name)
        if expect_hash is not None:
            current = _current(conn, name, env)
            if current is None or current.content_hash != expect_hash:
                now = f"{current.version} ({current.content_hash[:19]})" if current else "nothing"
                raise PinMovedError(f"{name} in {env} moved while this {action} was decided: it "
                                    f"serves {now} now, not {expect_hash[:19]}")
        return _move(conn, name, env, version, reason, actor, action)


def rollback(
    engine: Engine, name: str, *, env: str, reason: str, actor: str, to: str | None = None,
) -> LedgerEntry:
    """Move the pin back: to `to`, or to the version pinned before the current one."""
    _check(env, reason, "rollback")
    with write_transaction(engine) as conn:
        _lock(conn, name)
        if _current(conn, name, env) is None:
            raise NotPublishedError(f"{name} has no pin in {env}: nothing to roll back")
        target = to or previous_pin(_moves(conn, name, env))
        if target is None:
            raise NotPublishedError(
                f"{name} in {env} has no earlier pin to roll back to: give --to VERSION"
            )
        return _move(conn, name, env, target, reason, actor, "rollback")


def _check(env: str, reason: str, action: str) -> None:
    check_env(env)
    if not (reason or "").strip():
        raise UsageError("a reason is required: say why the pin moves (--reason TEXT)")
    if action not in ACTIONS:
        raise UsageError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")


def _lock(conn: Connection, name: str) -> None:
    """Serialise moves of one prompt: lock its row (SQLite already holds the write lock)."""
    query = sa.select(prompts.c.name).where(prompts.c.name == name).with_for_update()
    if conn.execute(query).first() is None:
        raise NotPublishedError(f"nothing is published under the name {name!r}")


def _move(
    conn: Connection, name: str, env: str, version: str, reason: str, actor: str, action: str,
) -> LedgerEntry:
    target = read_version(conn, name, version)
    current = _current(conn, name, env)
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "name": name, "env": env, "from_version": current.version if current else None,
        "to_version": version, "content_hash": target.content_hash, "actor": actor,
        "at": now, "reason": reason.strip(), "action": action,
    }
    row.update(chain_link(conn, row))
    ledger_id = inserted_id(conn.execute(ledger.insert().values(**row)))
    advance_head(conn, ledger_id, row["row_hash"])
    pin_row = {"version": version, "content_hash": target.content_hash, "moved_at": now,
               "moved_by": actor, "ledger_id": ledger_id}
    if current is None:
        conn.execute(pins.insert().values(name=name, env=env, **pin_row))
    else:
        conn.execute(pins.update().where(pins.c.name == name, pins.c.env == env).values(**pin_row))
    return LedgerEntry(id=ledger_id, **row)


def _current(conn: Connection, name: str, env: str) -> Pin | None:
    query = sa.select(pins).where(pins.c.name == name, pins.c.env == env).with_for_update()
    row = conn.execute(query).first()
    return _pin(row._mapping) if row is not None else None


def _moves(conn: Connection, name: str, env: str) -> list[tuple[str, str]]:
    query = (sa.select(ledger.c.to_version, ledger.c.action)
             .where(ledger.c.name == name, ledger.c.env == env).order_by(ledger.c.id))
    return [(r.to_version, r.action) for r in conn.execute(query)]


def previous_pin(moves: Iterable[tuple[str, str]]) -> str | None:
    """The version to roll back to, from the ledger's (to_version, action) rows, oldest first.

    The ledger is replayed as a stack: a pin pushes its version; a rollback returns to an
    earlier entry (or replaces the top when rolling back to a version never pinned). So a
    second rollback goes further back instead of undoing the first.
    """
    stack: list[str] = []
    for version, action in moves:
        if action == "rollback" and version in stack:
            last = len(stack) - 1 - stack[::-1].index(version)
            del stack[last + 1:]
        elif action == "rollback" and stack:
            stack[-1] = version
        elif not stack or stack[-1] != version:
            stack.append(version)
    return stack[-2] if len(stack) >= 2 else None


def read_pin(conn: Connection, name: str, env: str) -> Pin | None:
    row = conn.execute(sa.select(pins).where(pins.c.name == name, pins.c.env == env)).first()
    return _pin(row._mapping) if row is not None else None


def read_pins(conn: Connection, names: Iterable[str] | None = None) -> list[Pin]:
    """Current pins (of `names`, or all), by name then environment."""
    query = sa.select(pins).order_by(pins.c.name, pins.c.env)
    if names is not None:
        query = query.where(pins.c.name.in_(sorted(set(names))))
    return [_pin(r._mapping) for r in conn.execute(query)]


def chain_link(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """The new row's place in the chain: the head's hash and its own (the head row is
    locked until the transaction ends, so the chain's writers take turns)."""
    head = conn.execute(sa.select(ledger_head).where(ledger_head.c.id == 1)
                        .with_for_update()).first()
    prev_hash = head.row_hash if head is not None else None
    return {"prev_hash": prev_hash, "row_hash": row_digest(row, prev_hash)}


def advance_head(conn: Connection, ledger_id: int, row_hash: str) -> None:
    conn.execute(ledger_head.update().where(ledger_head.c.id == 1)
                 .values(ledger_id=ledger_id, row_hash=row_hash))


def check_chain(conn: Connection, kept: LedgerHead | None = None) -> ChainCheck:
    """Verify the whole ledger's hash chain (see `promptkit.registry.chain`)."""
    rows = [dict(r) for r in conn.execute(sa.select(ledger).order_by(ledger.c.id)).mappings()]
    return verify_chain(rows, read_head(conn), kept)


def read_head(conn: Connection) -> LedgerHead:
    row = conn.execute(sa.select(ledger_head).where(ledger_head.c.id == 1)).first()
    return LedgerHead(row.ledger_id, row.row_hash) if row is not None else LedgerHead(None, None)


def read_history(conn: Connection, name: str, env: str | None = None) -> list[LedgerEntry]:
    """Every move of `name` (in `env`, or in every environment), oldest first."""
    query = sa.select(ledger).where(ledger.c.name == name).order_by(ledger.c.id)
    if env is not None:
        query = query.where(ledger.c.env == env)
    return [LedgerEntry(**dict(r._mapping)) for r in conn.execute(query)]


def _pin(row: Any) -> Pin:
    return Pin(**dict(row))
