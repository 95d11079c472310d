"""Protected environments: the rules stored per environment (a passing gate, approvals,
allowed actors, what a rollback may skip), their chained history, and the review every pin
move passes before it lands. A refusal names the rule; an override is written into the
ledger row's reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from promptkit.db.engine import write_transaction
from promptkit.errors import ProtectedEnvironmentError, UsageError
from promptkit.registry.chained import ChainWriter
from promptkit.registry.gates import passing_gate
from promptkit.registry.records import EnvRules, Pin, check_env
from promptkit.registry.schema import env_rules

__all__ = ["Decision", "Proposal", "read_all_rules", "read_rules", "review", "write_rules"]


@dataclass(frozen=True)
class Proposal:
    """A pin move as asked for, before the environment's rules have looked at it."""

    name: str
    env: str
    version: str
    content_hash: str
    action: str
    actor: str
    current: Pin | None
    served_before: bool = False
    """The target is a version this environment served before (what a rollback may skip
    rules for)."""


@dataclass(frozen=True)
class Decision:
    """What the rules decided: go ahead now, or wait for approvals; and which rule the
    move overrides (recorded in its ledger row)."""

    wait_for_approval: bool = False
    overrides: tuple[str, ...] = ()
    skips: tuple[str, ...] = ()
    """Rules a rollback to a version served before did not have to pass."""

    def note(self, env: str) -> str:
        """What the ledger row's reason adds, so nobody wonders how the move got through."""
        said = []
        if self.overrides:
            said.append(f"overrides {env}'s rule {', '.join(self.overrides)}")
        if self.skips:
            said.append(f"a rollback to a version {env} served before: skips its rule "
                        f"{', '.join(self.skips)}")
        return f" ({'; '.join(said)})" if said else ""


def review(conn: Connection, rules: EnvRules, move: Proposal, *,
           approved: bool = False) -> Decision:
    """Apply `rules` to `move`; ProtectedEnvironmentError, naming the rule, if it may not."""
    if rules.allowed_actors and move.actor not in rules.allowed_actors:
        raise _refused(move, "allowed_actors",
                       f"{move.actor!r} is not one of {', '.join(rules.allowed_actors)}, who "
                       f"may move its pins")
    skips = rules.rollback_skips if move.action == "rollback" and move.served_before else ()
    overrides: tuple[str, ...] = ()
    skipped: list[str] = []
    if rules.require_gate and _needs_gate(conn, move):
        if "gate" in skips:
            skipped.append("require_gate")
        elif move.action != "force":
            raise _no_gate(move)
        else:
            overrides = ("require_gate",)
    if rules.approvals and not approved and "approval" in skips:
        skipped.append("approvals")
    wait = bool(rules.approvals) and "approval" not in skips and not approved
    return Decision(wait, overrides, tuple(skipped))


def _needs_gate(conn: Connection, move: Proposal) -> bool:
    """A gate is needed unless nothing is served yet (nothing to gate against), the content
    stays the same, or a passing gate exists for exactly this pair."""
    current = move.current
    if current is None or current.content_hash == move.content_hash:
        return False
    return passing_gate(conn, move.name, move.content_hash, current.content_hash) is None


def _no_gate(move: Proposal) -> ProtectedEnvironmentError:
    current = move.current
    assert current is not None
    gate = f"promptkit gate {move.name} --candidate {move.version} --baseline {move.env}"
    return _refused(
        move, "require_gate",
        f"no passing gate for {move.name}@{move.version} ({move.content_hash[:19]}) against "
        f"{current.version} ({current.content_hash[:19]}), which it serves now. Run `{gate}` "
        f"and `promptkit promote {move.name} {move.version} --env {move.env}`, or override "
        f"with `promptkit promote ... --force --reason TEXT`", command=gate)


def _refused(move: Proposal, rule: str, why: str,
             command: str | None = None) -> ProtectedEnvironmentError:
    return ProtectedEnvironmentError(
        f"refused by {move.env}'s rule {rule}: {move.action} of {move.name}@{move.version}: "
        f"{why}", env=move.env, rule=rule, command=command)


def read_rules(conn: Connection, env: str) -> EnvRules:
    """`env`'s rules (an environment nobody protected has none)."""
    row = conn.execute(sa.select(env_rules).where(env_rules.c.env == env)).first()
    return EnvRules.from_json(env, row.rules, row.revision) if row is not None else EnvRules(env)


def read_all_rules(conn: Connection) -> list[EnvRules]:
    rows = conn.execute(sa.select(env_rules).order_by(env_rules.c.env))
    return [EnvRules.from_json(r.env, r.rules, r.revision) for r in rows]


def write_rules(engine: Engine, rules: EnvRules, *, actor: str, reason: str) -> EnvRules:
    """Replace `rules.env`'s rules, appending the change to the chain with who and why."""
    check_env(rules.env)
    if not reason.strip():
        raise UsageError("a reason is required: say why the rules change (--reason TEXT)")
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        chain = ChainWriter.lock(conn)
        before = conn.execute(sa.select(env_rules).where(env_rules.c.env == rules.env)).first()
        revision = before.revision + 1 if before is not None else 1
        values = {"rules": rules.as_json(), "revision": revision, "updated_at": now,
                  "updated_by": actor}
        if before is None:
            conn.execute(env_rules.insert().values(env=rules.env, **values))
        else:
            conn.execute(env_rules.update().where(env_rules.c.env == rules.env).values(**values))
        chain.append("rules", {"env": rules.env, "revision": revision, "rules": rules.as_json(),
                               "previous": before.rules if before is not None else None,
                               "actor": actor, "at": now, "reason": reason.strip()})
    return EnvRules.from_json(rules.env, rules.as_json(), revision)
