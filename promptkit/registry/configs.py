"""Model configs by name: the current one per name plus an append-only, chained history of
changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from promptkit.core.types import ModelConfig
from promptkit.db.engine import write_transaction
from promptkit.errors import ConfigError, NotPublishedError
from promptkit.registry.chained import ChainWriter
from promptkit.registry.records import ConfigChange, StoredConfig
from promptkit.registry.schema import model_config_history, model_configs

__all__ = ["read_config", "read_config_history", "read_configs", "write_config"]

_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RACE_ATTEMPTS = 3
_CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def write_config(
    engine: Engine, name: str, changes: dict[str, Any], *, actor: str, reason: str | None,
) -> ConfigChange:
    """Create `name` (needs `model`) or change the given fields of it; the rest stay."""
    if not _CONFIG_NAME.match(name):
        raise ConfigError(f"{name!r} is not a config name: use letters, digits, '_', '.', '-'")
    for _ in range(_RACE_ATTEMPTS - 1):
        try:
            return _write_once(engine, name, changes, actor, reason)
        except exc.IntegrityError:
            continue  # another process created `name` at the same moment: merge into it
    return _write_once(engine, name, changes, actor, reason)


def _write_once(
    engine: Engine, name: str, changes: dict[str, Any], actor: str, reason: str | None,
) -> ConfigChange:
    with write_transaction(engine) as conn:
        chain = ChainWriter.lock(conn)
        row = conn.execute(
            sa.select(model_configs).where(model_configs.c.name == name).with_for_update()
        ).first()
        before = ModelConfig.model_validate(row.config) if row is not None else None
        after = _merge(name, before, changes)
        _check_fallbacks(conn, after)
        revision = 1 if row is None else int(row.revision) + 1
        return _store(chain, after, before, revision, actor, reason)


def _merge(name: str, before: ModelConfig | None, changes: dict[str, Any]) -> ModelConfig:
    given = {k: v for k, v in changes.items() if v is not None}
    if before is None and "model" not in given:
        raise ConfigError(f"model config {name!r} does not exist yet: give --model to create it")
    key_env = given.get("api_key_env")
    if key_env and not _ENV_VAR.match(key_env):  # "" means: the endpoint needs no key
        raise ConfigError(
            f"api_key_env must name an environment variable (like OPENAI_API_KEY), not "
            f"{key_env[:4]}…: the registry stores the variable's name, never the key"
        )
    base = before.model_dump() if before is not None else {}
    try:
        return ModelConfig.model_validate({**base, **given, "name": name})
    except ValidationError as error:
        raise ConfigError(f"model config {name!r}: {error}") from None


def _check_fallbacks(conn: Connection, config: ModelConfig) -> None:
    if config.name in config.fallback:
        raise ConfigError(f"model config {config.name!r} cannot fall back to itself")
    known = {r.name for r in conn.execute(sa.select(model_configs.c.name))}
    unknown = [f for f in config.fallback if f not in known]
    if unknown:
        raise ConfigError(
            f"fallback {', '.join(unknown)} of {config.name!r} is not a model config "
            f"(known: {', '.join(sorted(known)) or 'none'})"
        )


def _store(
    chain: ChainWriter, after: ModelConfig, before: ModelConfig | None, revision: int,
    actor: str, reason: str | None,
) -> ConfigChange:
    conn, now = chain.conn, datetime.now(UTC)
    data = after.model_dump(mode="json")
    current = {"config": data, "revision": revision, "updated_at": now, "updated_by": actor}
    if before is None:
        conn.execute(model_configs.insert().values(name=after.name, **current))
    else:
        conn.execute(
            model_configs.update().where(model_configs.c.name == after.name).values(**current)
        )
    previous = before.model_dump(mode="json") if before is not None else None
    history_id = chain.append("config", {
        "name": after.name, "revision": revision, "config": data, "previous": previous,
        "actor": actor, "at": now, "reason": reason,
    })
    return ConfigChange(history_id, after.name, revision, after, before, actor, now, reason)


def read_config(conn: Connection, name: str) -> StoredConfig:
    row = conn.execute(sa.select(model_configs).where(model_configs.c.name == name)).first()
    if row is None:
        known = [r.name for r in conn.execute(sa.select(model_configs.c.name))]
        raise NotPublishedError(
            f"no model config named {name!r} (known: {', '.join(sorted(known)) or 'none'}); "
            f"create it with `promptkit config set {name} --model MODEL`"
        )
    return _stored(row)


def read_configs(conn: Connection) -> list[StoredConfig]:
    rows = conn.execute(sa.select(model_configs).order_by(model_configs.c.name))
    return [_stored(r) for r in rows]


def read_config_history(conn: Connection, name: str) -> list[ConfigChange]:
    """Every change of `name`, oldest first."""
    query = (sa.select(model_config_history).where(model_config_history.c.name == name)
             .order_by(model_config_history.c.id))
    return [
        ConfigChange(
            r.id, r.name, r.revision, ModelConfig.model_validate(r.config),
            ModelConfig.model_validate(r.previous) if r.previous is not None else None,
            r.actor, r.at, r.reason,
        )
        for r in conn.execute(query)
    ]


def _stored(row: Any) -> StoredConfig:
    return StoredConfig(
        ModelConfig.model_validate(row.config), row.revision, row.updated_at, row.updated_by
    )
