"""Pins and their ledger: every move is one transaction that passes the environment's
rules, appends a chained ledger row and sets the pin to it, under the chain's lock, so the
pin always equals the last ledger row; approvals complete moves that waited for them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from promptkit.db.engine import write_transaction
from promptkit.errors import (
    ApprovalPendingError,
    NotPublishedError,
    PinMovedError,
    ProtectedEnvironmentError,
    UsageError,
)
from promptkit.registry import approvals
from promptkit.registry.chained import ChainWriter
from promptkit.registry.notify import announce
from promptkit.registry.protection import Proposal, read_rules, review
from promptkit.registry.published import read_version
from promptkit.registry.records import ACTIONS, LedgerEntry, MoveRequest, Pin, check_env
from promptkit.registry.schema import ledger, pins

__all__ = [
    "append_entry",
    "approve",
    "check_move",
    "governed",
    "locked_pin",
    "move",
    "previous_pin",
    "read_history",
    "read_pin",
    "read_pins",
    "rollback",
    "settled",
]


def move(
    engine: Engine, name: str, version: str, *, env: str, reason: str, actor: str,
    action: str = "pin", expect_hash: str | None = None,
) -> LedgerEntry:
    """Point `name` in `env` at a published `version`, recording who, when and why, if the
    environment's rules allow it (ProtectedEnvironmentError names the rule that does not;
    ApprovalPendingError when it waits for approvals). With `expect_hash`, only if `env`
    still serves that content (compare-and-set): a decision taken on the current pin never
    lands on another one."""
    check_move(env, reason, action)
    with write_transaction(engine) as conn:
        chain = ChainWriter.lock(conn)
        current = locked_pin(conn, name, env)
        if expect_hash is not None:
            _expect(current, expect_hash, name, env, action)
        done = governed(chain, name, env, version, reason.strip(), actor, action, current)
    return settled(done)


def rollback(
    engine: Engine, name: str, *, env: str, reason: str, actor: str, to: str | None = None,
) -> LedgerEntry:
    """Move the pin back: to `to`, or to the version pinned before the current one. A
    rollback to a version `env` served before skips what its rules let a rollback skip."""
    check_move(env, reason, "rollback")
    with write_transaction(engine) as conn:
        chain = ChainWriter.lock(conn)
        current = locked_pin(conn, name, env)
        if current is None:
            raise NotPublishedError(f"{name} has no pin in {env}: nothing to roll back")
        moves = _moves(conn, name, env)
        target = to or previous_pin(moves)
        if target is None:
            raise NotPublishedError(
                f"{name} in {env} has no earlier pin to roll back to: give --to VERSION"
            )
        served = target in {version for version, _ in moves}
        done = governed(chain, name, env, target, reason.strip(), actor, "rollback", current,
                         served_before=served)
    return settled(done)


def approve(engine: Engine, request_id: int, *, actor: str, reason: str = "",
            reject: bool = False) -> tuple[MoveRequest, LedgerEntry | None]:
    """Approve (or reject) a pending move as `actor`, one of the environment's approvers and
    not its requester. When the approvals it needs are in, the move lands (its ledger row
    names the approvers) if the environment still serves what it served when requested."""
    with write_transaction(engine) as conn:
        chain = ChainWriter.lock(conn)
        request = approvals.read_request(conn, request_id)
        rules = read_rules(conn, request.env)
        _check_approver(request, rules.approvers, actor)
        if reject:
            approvals.add_event(chain, request, "reject", actor, reason or "rejected")
            return approvals.read_request(conn, request_id), None
        current = locked_pin(conn, request.name, request.env)
        if (current.content_hash if current else None) != request.expect_hash:
            raise PinMovedError(f"{request.name} in {request.env} moved since request "
                                f"#{request.id} was made: ask again")
        approvals.add_event(chain, request, "approve", actor, reason or "approved")
        approvers = (*request.approved_by, actor)
        if len(approvers) < rules.approvals:
            return approvals.read_request(conn, request_id), None
        move_ = Proposal(request.name, request.env, request.version, request.content_hash,
                         request.action, request.actor, current)
        decision = review(conn, rules, move_, approved=True)
        why = (f"{request.reason}; approved by {', '.join(approvers)} (request #{request.id})"
               + decision.note(request.env))
        entry = _append_move(chain, request.name, request.env, request.version, why,
                             request.actor, request.action, current, request.content_hash)
        approvals.add_event(chain, request, "done", actor, f"pin ledger row {entry.id}")
        return approvals.read_request(conn, request_id), entry


def _check_approver(request: MoveRequest, approvers: tuple[str, ...], actor: str) -> None:
    rule = f"{request.env}'s rule approvals"
    if request.state != "pending":
        raise UsageError(f"move request #{request.id} is {request.state} already")
    if actor == request.actor:
        raise ProtectedEnvironmentError(
            f"refused by {rule}: {actor} asked for request #{request.id} and cannot approve "
            f"it too", env=request.env, rule="approvals")
    if actor not in approvers:
        raise ProtectedEnvironmentError(
            f"refused by {rule}: {actor!r} is not one of its approvers "
            f"({', '.join(approvers) or 'none'})", env=request.env, rule="approvals")
    if actor in request.approved_by:
        raise UsageError(f"{actor} approved request #{request.id} already")


def check_move(env: str, reason: str, action: str) -> None:
    check_env(env)
    if not (reason or "").strip():
        raise UsageError("a reason is required: say why the pin moves (--reason TEXT)")
    if action not in ACTIONS:
        raise UsageError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")


def _expect(current: Pin | None, expect_hash: str, name: str, env: str, action: str) -> None:
    if current is None or current.content_hash != expect_hash:
        now = f"{current.version} ({current.content_hash[:19]})" if current else "nothing"
        raise PinMovedError(f"{name} in {env} moved while this {action} was decided: it "
                            f"serves {now} now, not {expect_hash[:19]}")


def governed(
    chain: ChainWriter, name: str, env: str, version: str, reason: str, actor: str,
    action: str, current: Pin | None, served_before: bool = False,
) -> LedgerEntry | MoveRequest:
    """The move if `env`'s rules allow it now, or the request that waits for approvals."""
    target = read_version(chain.conn, name, version)
    proposal = Proposal(name, env, version, target.content_hash, action, actor, current,
                        served_before)
    decision = review(chain.conn, read_rules(chain.conn, env), proposal)
    if decision.wait_for_approval:
        return approvals.open_request(chain, proposal, reason)
    return _append_move(chain, name, env, version, reason + decision.note(env), actor, action,
                        current, target.content_hash)


def settled(done: LedgerEntry | MoveRequest) -> LedgerEntry:
    """The ledger row; a request (committed by now) is raised as ApprovalPendingError."""
    if isinstance(done, LedgerEntry):
        return done
    raise ApprovalPendingError(
        f"{done.env} needs approval: the {done.action} of {done.name}@{done.version} is "
        f"waiting as request #{done.id}; the pin has not moved. An approver runs "
        f"`promptkit approve {done.id}`", env=done.env, request_id=done.id)


def _append_move(
    chain: ChainWriter, name: str, env: str, version: str, reason: str, actor: str,
    action: str, current: Pin | None, content_hash: str,
) -> LedgerEntry:
    entry = append_entry(chain, name, env, current.version if current else None, version,
                         content_hash, reason, actor, action)
    pin_row = {"version": version, "content_hash": content_hash, "moved_at": entry.at,
               "moved_by": actor, "ledger_id": entry.id}
    if current is None:
        chain.conn.execute(pins.insert().values(name=name, env=env, **pin_row))
    else:
        chain.conn.execute(pins.update().where(pins.c.name == name, pins.c.env == env)
                           .values(**pin_row))
    return entry


def append_entry(
    chain: ChainWriter, name: str, env: str, from_version: str | None, to_version: str,
    content_hash: str, reason: str, actor: str, action: str,
) -> LedgerEntry:
    """One ledger row, chained (the pin is the caller's business)."""
    row: dict[str, Any] = {
        "name": name, "env": env, "from_version": from_version, "to_version": to_version,
        "content_hash": content_hash, "actor": actor, "at": datetime.now(UTC),
        "reason": reason, "action": action,
    }
    prev_hash = chain.head.row_hash
    ledger_id = chain.append("pin", row)
    announce(chain.conn, name, env)  # NOTIFY at commit (PostgreSQL): resolvers check at once
    return LedgerEntry(id=ledger_id, **row, prev_hash=prev_hash, row_hash=chain.head.row_hash,
                       chain_seq=chain.head.seq, db_user=chain.db_user)


def locked_pin(conn: Connection, name: str, env: str) -> Pin | None:
    """`name`'s pin in `env`, its row locked until the transaction ends."""
    query = sa.select(pins).where(pins.c.name == name, pins.c.env == env).with_for_update()
    row = conn.execute(query).first()
    return _pin(row._mapping) if row is not None else None


def _moves(conn: Connection, name: str, env: str) -> list[tuple[str, str]]:
    query = (sa.select(ledger.c.to_version, ledger.c.action)
             .where(ledger.c.name == name, ledger.c.env == env, ledger.c.action.in_(ACTIONS))
             .order_by(ledger.c.id))
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


def read_history(conn: Connection, name: str, env: str | None = None) -> list[LedgerEntry]:
    """Every move of `name` (in `env`, or in every environment), oldest first."""
    query = sa.select(ledger).where(ledger.c.name == name).order_by(ledger.c.id)
    if env is not None:
        query = query.where(ledger.c.env == env)
    return [LedgerEntry(**dict(r._mapping)) for r in conn.execute(query)]


def _pin(row: Any) -> Pin:
    return Pin(**dict(row))
