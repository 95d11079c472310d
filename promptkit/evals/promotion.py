"""`promote`: move an environment's pin only to content that passed a gate against the
content the environment serves now; `force` overrides with a reason, and the ledger says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptkit.errors import PinMovedError, PromotionRefusedError, UsageError
from promptkit.registry import LedgerEntry, Pin, Registry
from promptkit.registry.records import GateRecord

__all__ = ["Promotion", "promote"]


@dataclass(frozen=True)
class Promotion:
    """What `promote` did: the ledger row it appended (None when the environment already
    served that content) and the gate verdict it relied on (None when forced)."""

    name: str
    version: str
    env: str
    entry: LedgerEntry | None
    gate: GateRecord | None
    forced: bool = False


def promote(
    registry: Registry, name: str, version: str, *, env: str, reason: str | None = None,
    force: bool = False, actor: str | None = None,
) -> Promotion:
    """Pin `name` in `env` to the published `version` if a passing gate exists for its
    content hash against the hash `env` serves now (ledger action `promote`).

    Refused (PromotionRefusedError, naming the gate to run) otherwise, including when `env`
    has no pin yet: there is nothing to gate against, so the first version is pinned with
    `promptkit pin`. `force=True` skips the check; it needs a `reason` and is recorded as
    ledger action `force`.
    """
    if force and not (reason or "").strip():
        raise UsageError("--force needs --reason: say why the gate is skipped (kept in the ledger)")
    target = registry.version(name, version)  # NotPublishedError: publish it first
    current = registry.current(name, env)
    if force:
        entry = registry.pin(name, version, env=env, reason=str(reason), actor=actor,
                             action="force")
        return Promotion(name, version, env, entry, None, forced=True)
    if current is not None and current.content_hash == target.content_hash:
        return Promotion(name, version, env, None, None)
    if current is None:
        raise PromotionRefusedError(
            f"{name} has no pin in {env}, so there is nothing to gate {version} against: pin "
            f"the first version with `promptkit pin {name} {version} --env {env} --reason ...`",
            name=name, version=version, env=env,
            command=f"promptkit pin {name} {version} --env {env} --reason ...")
    gate = registry.passing_gate(name, target.content_hash, current.content_hash)
    if gate is None:
        raise _refusal(registry, name, version, env, target.content_hash, current)
    why = f"{reason.strip()}; " if reason and reason.strip() else ""
    try:
        entry = registry.pin(name, version, env=env, actor=actor, action="promote",
                             reason=f"{why}gate #{gate.id} passed against {current.version}",
                             expect_hash=current.content_hash)
    except PinMovedError as moved:
        command = f"promptkit gate {name} --candidate {version} --baseline {env}"
        raise PromotionRefusedError(
            f"refusing to promote {name}@{version} to {env}: its gate passed against "
            f"{current.version}, but {moved} Run `{command}` again.",
            name=name, version=version, env=env, command=command) from None
    return Promotion(name, version, env, entry, gate)


def _refusal(registry: Registry, name: str, version: str, env: str, content_hash: str,
             current: Pin) -> PromotionRefusedError:
    command = f"promptkit gate {name} --candidate {version} --baseline {env}"
    tried = registry.gates(name, candidate_hash=content_hash,
                           baseline_hash=current.content_hash)
    last = f" The last one, {tried[0].line()}." if tried else ""
    return PromotionRefusedError(
        f"refusing to promote {name}@{version} to {env}: no passing gate for its content "
        f"({content_hash[:19]}) against {current.version} ({current.content_hash[:19]}), which "
        f"{env} serves now.{last} Run `{command}`, or override with --force --reason TEXT.",
        name=name, version=version, env=env, command=command)
