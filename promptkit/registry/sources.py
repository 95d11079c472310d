"""The one model-config source: the registry's config of a name, else the project's
`[tool.promptkit.models.NAME]` (so a fresh checkout calls a model before anything is
stored). The client, the resolver, the evals and `promptkit config list/show` all use it.

    configs = promptkit.model_configs()          # the project's registry and pyproject.toml
    configs("default")                           # a ModelConfig
    [(e.config.name, e.source) for e in configs.entries()]
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from promptkit.config import Settings, load_settings
from promptkit.core.types import ModelConfig
from promptkit.errors import NotPublishedError, RegistryUnavailableError, StaleRegistryWarning
from promptkit.registry.background import Lookups, unanswered
from promptkit.registry.store import Registry

__all__ = ["CONFIG_TTL_S", "ConfigEntry", "ModelConfigs", "model_configs"]

CONFIG_TTL_S = 0.5
"""How long a looked-up config is used before the registry is asked again (a change made
with `promptkit config set` reaches a running process within it, as a moved pin does)."""

PYPROJECT = "pyproject.toml"


@dataclass(frozen=True)
class ConfigEntry:
    """A model config and where it comes from: `registry r3` or `pyproject.toml`."""

    config: ModelConfig
    source: str


class ModelConfigs:
    """Names → model configs, registry first, then the project's file, each name re-read
    at most every `ttl`, off the caller's thread (a caller waits at most `wait_s` when it
    knows the config already, `timeout_s` when not). While the registry cannot be reached
    or does not answer, a config it gave before is kept (with a `StaleRegistryWarning`),
    else the project's file answers."""

    def __init__(self, settings: Settings | None = None, registry: Registry | None = None, *,
                 ttl: float = CONFIG_TTL_S, clock: Callable[[], float] = time.monotonic,
                 wait_s: float | None = None, timeout_s: float | None = None) -> None:
        self.settings = settings or load_settings()
        self.registry = (registry if registry is not None
                         else Registry(self.settings.database_url, create=False))
        self.ttl, self._clock = ttl, clock
        self.wait_s = wait_s if wait_s is not None else self.settings.seconds("registry_wait_s")
        self.timeout_s = (timeout_s if timeout_s is not None
                          else self.settings.seconds("registry_timeout_s"))
        self._known: dict[str, tuple[ConfigEntry, float]] = {}
        self._lookups = Lookups(self.timeout_s, clock)
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, name: str) -> ModelConfig:
        return self.entry(name).config

    def entry(self, name: str) -> ConfigEntry:
        """The config of `name` with its source; LookupError names both places to define it."""
        with self._lock:
            known = self._known.get(name)
        if known is not None and self._clock() < known[1]:
            return known[0]
        lookup, started = self._lookups.start(name, lambda: self._look_up(name))
        wait = self.timeout_s if known is None else (self.wait_s if started else 0.0)
        if lookup.wait(wait):
            try:
                return lookup.result()
            except RegistryUnavailableError as error:
                return self._without_registry(name, known, str(error))
        overdue = self._lookups.overdue(name)
        if known is not None and overdue is None:
            return known[0]  # the answer is on its way: no outage yet
        age = overdue or self._clock() - lookup.started
        return self._without_registry(name, known, unanswered(self.registry.url, age))

    def entries(self) -> list[ConfigEntry]:
        """Every config either place defines, by name (the registry's wins)."""
        try:
            stored = {s.config.name: ConfigEntry(s.config, f"registry r{s.revision}")
                      for s in self.registry.configs()}
        except RegistryUnavailableError:
            stored = {}
        local = {n: self._local(n) for n in self.settings.models if n not in stored}
        merged = {**stored, **{n: e for n, e in local.items() if e is not None}}
        return [merged[n] for n in sorted(merged)]

    def _look_up(self, name: str) -> ConfigEntry:
        """Ask the registry (then the project's file) and keep the answer for `ttl`."""
        try:
            stored = self.registry.stored_config(name)
            found = ConfigEntry(stored.config, f"registry r{stored.revision}")
        except NotPublishedError:
            found = self._required_local(name)
        self._keep(name, found)
        self._warned.discard(name)
        return found

    def _without_registry(self, name: str, known: tuple[ConfigEntry, float] | None,
                          reason: str) -> ConfigEntry:
        if known is not None and known[0].source.startswith("registry"):
            if name not in self._warned:  # once per outage
                self._warned.add(name)
                warnings.warn(f"promptkit: keeping last-known model config {name!r}: {reason}",
                              StaleRegistryWarning, stacklevel=4)
            found = known[0]
        else:
            found = self._required_local(name)
        self._keep(name, found)  # ask again after the ttl, not on every call
        return found

    def _keep(self, name: str, found: ConfigEntry) -> None:
        with self._lock:
            self._known[name] = (found, self._clock() + self.ttl)

    def _required_local(self, name: str) -> ConfigEntry:
        local = self._local(name)
        if local is None:
            raise LookupError(f"no model config {name!r}: define it with `promptkit config set "
                              f"{name} --model MODEL` or in [tool.promptkit.models.{name}] of "
                              f"{PYPROJECT}")
        return local

    def _local(self, name: str) -> ConfigEntry | None:
        table = self.settings.models.get(name)
        return ConfigEntry(ModelConfig(name=name, **dict(table)), PYPROJECT) if table else None


def model_configs(settings: Settings | None = None, registry: Registry | None = None, *,
                  ttl: float = CONFIG_TTL_S, clock: Callable[[], float] = time.monotonic,
                  wait_s: float | None = None, timeout_s: float | None = None) -> ModelConfigs:
    """The project's model configs for `promptkit.Client` (registry, then pyproject.toml)."""
    return ModelConfigs(settings, registry, ttl=ttl, clock=clock, wait_s=wait_s,
                        timeout_s=timeout_s)
