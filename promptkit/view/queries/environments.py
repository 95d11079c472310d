"""An environment as the page shows it: what it serves, its ledger, rules and requests."""

from __future__ import annotations

from dataclasses import dataclass

from promptkit.registry.environments import known_envs
from promptkit.registry.records import EnvRules, LedgerEntry, MoveRequest, Pin, PublishedVersion
from promptkit.view.queries.names import prompt_names
from promptkit.view.state import ViewState

__all__ = ["EnvView", "env_names", "env_view"]


@dataclass(frozen=True)
class EnvView:
    """One environment: its pins, ledger (newest first), rules, pending requests, and the
    published versions of each prompt (for the forms)."""

    env: str
    pins: list[Pin]
    ledger: list[LedgerEntry]
    rules: EnvRules
    requests: list[MoveRequest]
    versions: dict[str, list[PublishedVersion]]


def env_names(state: ViewState) -> list[str]:
    return known_envs(state.settings, state.registry)


def env_view(state: ViewState, env: str) -> EnvView:
    registry = state.registry
    names = prompt_names(state)
    ledger = [e for name in names for e in registry.history(name, env)]
    ledger.sort(key=lambda e: (e.at, e.id), reverse=True)
    return EnvView(
        env=env,
        pins=[p for p in registry.pins() if p.env == env],
        ledger=ledger,
        rules=registry.rules(env),
        requests=[r for r in registry.requests() if r.env == env],
        versions={name: registry.versions(name) for name in names},
    )
