"""Where model-config names resolve: the registry's configs, then the project's
`[tool.promptkit.models]` tables, so a fresh checkout can call a model before anything
is stored."""

from __future__ import annotations

import time
from collections.abc import Callable

from promptkit.config import Settings, load_settings
from promptkit.core.types import ModelConfig
from promptkit.errors import NotPublishedError, RegistryUnavailableError
from promptkit.registry.resolver import DEFAULT_TTL_S
from promptkit.registry.store import Registry

__all__ = ["model_configs"]


def model_configs(
    settings: Settings | None = None, registry: Registry | None = None, *,
    ttl: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic,
) -> Callable[[str], ModelConfig]:
    """A config source for `promptkit.Client`: names → `ModelConfig`.

    The registry's config of a name wins; an unreachable registry falls through to the
    project's file, so replayed evals run without a database server. A name is looked up
    at most once every `ttl` seconds (a call does not pay a query), so a change made with
    `promptkit config set` reaches a running process within `ttl`, as a moved pin does.
    """
    settings = settings or load_settings()
    known: dict[str, tuple[ModelConfig, float]] = {}

    def find(name: str) -> ModelConfig:
        if registry is not None:
            try:
                return registry.config(name)
            except (NotPublishedError, RegistryUnavailableError):
                pass
        if name in settings.models:
            return ModelConfig(name=name, **dict(settings.models[name]))
        raise LookupError(f"define it with `promptkit config set {name} --model ...` or in "
                          f"[tool.promptkit.models.{name}] of pyproject.toml")

    def lookup(name: str) -> ModelConfig:
        hit = known.get(name)
        if hit is not None and clock() < hit[1]:
            return hit[0]
        config = find(name)
        known[name] = (config, clock() + ttl)
        return config

    return lookup
