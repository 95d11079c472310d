"""Canaries: a share of an environment's requests served a candidate instead of what its pin
serves. Starting one, changing its share and aborting it are chained ledger rows (the pin
does not move); promoting it is a pin move like any other, through the environment's
rules. Which request gets which arm is `promptkit.registry.arms`'s."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from promptkit.db.engine import write_transaction
from promptkit.errors import NotPublishedError, PinMovedError, UsageError
from promptkit.registry import pins
from promptkit.registry.chained import ChainWriter
from promptkit.registry.protection import Proposal, read_rules, review
from promptkit.registry.published import read_version
from promptkit.registry.records import Canary, LedgerEntry, Pin, check_env
from promptkit.registry.schema import canaries

__all__ = ["abort", "promote", "read_canaries", "record_look", "start"]

def start(engine: Engine, name: str, version: str, *, env: str, percent: float, reason: str,
          actor: str) -> LedgerEntry:
    """Serve `version` to `percent` of `env`'s requests (or change the share of the canary
    of `version` that runs). The environment's rules apply, but its approvals only when the
    canary is promoted."""
    _check(env, reason, percent)
    with write_transaction(engine) as conn:
        chain = ChainWriter.lock(conn)
        stable = _stable(conn, name, env)
        target = read_version(conn, name, version)
        if target.content_hash == stable.content_hash:
            raise UsageError(f"{name} in {env} serves {version}'s content already: nothing "
                             f"to compare a canary with")
        running = _locked(conn, name, env)
        if running is not None and running.version != version:
            raise UsageError(f"{name} in {env} has a canary of {running.version} running: "
                             f"--promote or --abort it first")
        move = Proposal(name, env, version, target.content_hash, "canary", actor, stable)
        decision = review(conn, read_rules(conn, env), move, approved=True)
        entry = pins.append_entry(chain, name, env, stable.version, version,
                                  target.content_hash,
                                  f"{reason.strip()} ({percent:g}% of requests)"
                                  + decision.note(env), actor, "canary")
        _save(conn, running, entry, stable, percent)
    return entry


def abort(engine: Engine, name: str, *, env: str, reason: str, actor: str) -> LedgerEntry:
    """Stop the canary: every request gets the pinned version again; the ledger says why."""
    _check(env, reason)
    with write_transaction(engine) as conn:
        chain = ChainWriter.lock(conn)
        running = _running(conn, name, env)
        stable = _stable(conn, name, env)
        entry = pins.append_entry(chain, name, env, running.version, stable.version,
                                  stable.content_hash, reason.strip(), actor, "abort")
        _delete(conn, name, env)
    return entry


def promote(engine: Engine, name: str, *, env: str, reason: str, actor: str) -> LedgerEntry:
    """Pin the canary's version (a `promote` through the environment's rules, approvals
    included) if the pin still serves what it served when the canary started."""
    _check(env, reason)
    with write_transaction(engine) as conn:
        chain = ChainWriter.lock(conn)
        running = _running(conn, name, env)
        stable = _stable(conn, name, env)
        if stable.content_hash != running.stable_hash:
            raise PinMovedError(f"{name} in {env} moved since its canary of {running.version} "
                                f"started: what it was compared with is gone; --abort it")
        done = pins.governed(chain, name, env, running.version, reason.strip(), actor,
                             "promote", stable)
        if isinstance(done, LedgerEntry):
            _delete(conn, name, env)
    return pins.settled(done)


def record_look(engine: Engine, name: str, env: str, calls: int) -> None:
    """Remember how many canary calls the monitor's last look counted."""
    with write_transaction(engine) as conn:
        conn.execute(canaries.update().where(canaries.c.name == name, canaries.c.env == env)
                     .values(looked_at=calls))


def read_canaries(conn: Connection, names: Iterable[str] | None = None) -> list[Canary]:
    """Running canaries (of `names`, or all)."""
    query = sa.select(canaries).order_by(canaries.c.name, canaries.c.env)
    if names is not None:
        query = query.where(canaries.c.name.in_(sorted(set(names))))
    return [Canary(**dict(r)) for r in conn.execute(query).mappings()]


def _check(env: str, reason: str, percent: float | None = None) -> None:
    check_env(env)
    if not reason.strip():
        raise UsageError("a reason is required: say why (--reason TEXT)")
    if percent is not None and not 0 < percent < 100:
        raise UsageError(f"a canary serves between 0 and 100 percent of requests, not "
                         f"{percent:g} (promote it to serve all)")


def _stable(conn: Connection, name: str, env: str) -> Pin:
    pin = pins.locked_pin(conn, name, env)
    if pin is None:
        raise NotPublishedError(f"{name} has no pin in {env}: a canary needs a pinned version "
                                f"to compare with; pin one first")
    return pin


def _locked(conn: Connection, name: str, env: str) -> Canary | None:
    row = conn.execute(sa.select(canaries).where(canaries.c.name == name, canaries.c.env == env)
                       .with_for_update()).mappings().first()
    return Canary(**dict(row)) if row is not None else None


def _running(conn: Connection, name: str, env: str) -> Canary:
    running = _locked(conn, name, env)
    if running is None:
        raise UsageError(f"{name} has no canary running in {env}")
    return running


def _save(conn: Connection, running: Canary | None, entry: LedgerEntry, stable: Pin,
          percent: float) -> None:
    values: dict[str, Any] = {"percent": percent, "ledger_id": entry.id}
    if running is not None:
        conn.execute(canaries.update().where(canaries.c.name == entry.name,
                                             canaries.c.env == entry.env).values(**values))
        return
    conn.execute(canaries.insert().values(
        name=entry.name, env=entry.env, version=entry.to_version,
        content_hash=entry.content_hash, stable_hash=stable.content_hash,
        started_at=datetime.now(UTC), started_by=entry.actor, looked_at=0, **values))


def _delete(conn: Connection, name: str, env: str) -> None:
    conn.execute(canaries.delete().where(canaries.c.name == name, canaries.c.env == env))
