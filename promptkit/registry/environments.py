"""Which environments a pin may name: those the project declares
(`[tool.promptkit] environments`, default production and staging) and those the registry
already holds pins in. Anything else is most likely a typo, and is refused with the known
ones listed; `create=True` (`--create`) adds it on purpose."""

from __future__ import annotations

from promptkit.config import Settings
from promptkit.errors import UsageError
from promptkit.registry.records import check_env
from promptkit.registry.store import Registry

__all__ = ["check_known_env", "known_envs"]


def known_envs(settings: Settings, registry: Registry) -> list[str]:
    """The declared environments, then those with pins in the registry."""
    pinned = {pin.env for pin in registry.pins()}
    return list(dict.fromkeys([*settings.environment_names, *sorted(pinned)]))


def check_known_env(settings: Settings, registry: Registry, env: str, *,
                    create: bool = False) -> str:
    """`env`, if it is known or `create` is set; else a UsageError listing the known ones."""
    check_env(env)
    known = known_envs(settings, registry)
    if env in known or create:
        return env
    raise UsageError(f"unknown environment {env!r}; known: {', '.join(known)} (declare it in "
                     f"[tool.promptkit] environments of pyproject.toml, or pass --create)")
