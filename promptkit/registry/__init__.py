"""The prompt registry: published versions, model configs, pins with a ledger, a resolver.

Names are imported on first use (`promptkit.lazy`), so reaching `promptkit.get` does not
load SQLAlchemy: the registry is imported when it is first queried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptkit.lazy import lazy_attributes

if TYPE_CHECKING:
    from promptkit.db.migrations import migrate, migration
    from promptkit.registry.default import default_resolver, get
    from promptkit.registry.records import (
        ConfigChange,
        LedgerEntry,
        Pin,
        PublishedVersion,
        PublishOutcome,
        StoredConfig,
        default_actor,
    )
    from promptkit.registry.resolver import Resolved, Resolver, StaleRegistryWarning
    from promptkit.registry.sources import ConfigEntry, ModelConfigs, model_configs
    from promptkit.registry.store import Registry

__all__ = [
    "ConfigChange",
    "ConfigEntry",
    "LedgerEntry",
    "ModelConfigs",
    "Pin",
    "PublishOutcome",
    "PublishedVersion",
    "Registry",
    "Resolved",
    "Resolver",
    "StaleRegistryWarning",
    "StoredConfig",
    "default_actor",
    "default_resolver",
    "get",
    "migrate",
    "migration",
    "model_configs",
]

if not TYPE_CHECKING:  # type checkers see the imports above: a typo is an error
    __getattr__ = lazy_attributes(__name__)
