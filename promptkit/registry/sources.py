"""Where model-config names resolve: the registry's configs, then the project's
`[tool.promptkit.models]` tables, so a fresh checkout can call a model before anything
is stored."""

from __future__ import annotations

from collections.abc import Callable

from promptkit.config import Settings, load_settings
from promptkit.core.types import ModelConfig
from promptkit.errors import NotPublishedError, RegistryUnavailableError
from promptkit.registry.store import Registry

__all__ = ["model_configs"]


def model_configs(
    settings: Settings | None = None, registry: Registry | None = None
) -> Callable[[str], ModelConfig]:
    """A config source for `promptkit.Client`: names → `ModelConfig`.

    The registry's config of a name wins; an unreachable registry falls through to the
    project's file, so replayed evals run without a database server.
    """
    settings = settings or load_settings()

    def lookup(name: str) -> ModelConfig:
        if registry is not None:
            try:
                return registry.config(name)
            except (NotPublishedError, RegistryUnavailableError):
                pass
        if name in settings.models:
            return ModelConfig(name=name, **dict(settings.models[name]))
        raise LookupError(f"define it with `promptkit config set {name} --model ...` or in "
                          f"[tool.promptkit.models.{name}] of pyproject.toml")

    return lookup
