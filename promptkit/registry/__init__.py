"""The prompt registry: published versions, model configs, pins with a ledger, a resolver."""

from __future__ import annotations

from promptkit.db.migrations import migrate, migration
from promptkit.registry.records import (
    ConfigChange,
    LedgerEntry,
    Pin,
    PublishedVersion,
    PublishOutcome,
    StoredConfig,
    default_actor,
)
from promptkit.registry.resolver import (
    Resolved,
    Resolver,
    StaleRegistryWarning,
    default_resolver,
    get,
)
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
