"""What the registry hands back: published versions, pins, ledger rows, config changes."""

from __future__ import annotations

import getpass
import os
import re
import socket
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from promptkit.core.types import ModelConfig
from promptkit.errors import UsageError

__all__ = [
    "ACTIONS",
    "Action",
    "ConfigChange",
    "GitInfo",
    "LedgerEntry",
    "Pin",
    "PublishOutcome",
    "PublishStatus",
    "PublishedVersion",
    "StoredConfig",
    "check_env",
    "default_actor",
]

Action = Literal["pin", "rollback", "promote", "force"]


@dataclass(frozen=True)
class GitInfo:
    """The commit that holds a prompt file exactly as published, and its author."""

    commit: str | None = None
    author: str | None = None
ACTIONS: tuple[str, ...] = ("pin", "rollback", "promote", "force")

PublishStatus = Literal["published", "present", "refused"]

_ENV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def default_actor(environ: dict[str, str] | None = None) -> str:
    """Who is acting: `PROMPTKIT_ACTOR`, else `user@host`."""
    env = os.environ if environ is None else environ
    if env.get("PROMPTKIT_ACTOR"):
        return env["PROMPTKIT_ACTOR"]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def check_env(env: str) -> str:
    """An environment label such as `production` (letters, digits, `_.-`)."""
    if not _ENV.match(env or ""):
        raise UsageError(
            f"{env!r} is not an environment name: use letters, digits, '_', '.' or '-'"
        )
    return env


@dataclass(frozen=True)
class PublishedVersion:
    """One released version as the registry stores it (content included)."""

    name: str
    version: str
    content_hash: str
    source: str
    meta: dict[str, Any]
    git_commit: str | None
    git_author: str | None
    published_at: datetime
    published_by: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class PublishOutcome:
    """What publishing one file did: stored it, found it already stored, or refused it."""

    name: str
    version: str
    status: PublishStatus
    content_hash: str | None = None
    detail: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Pin:
    """The version an environment serves now, and the ledger row that put it there."""

    name: str
    env: str
    version: str
    content_hash: str
    moved_at: datetime
    moved_by: str
    ledger_id: int


@dataclass(frozen=True)
class LedgerEntry:
    """One move of a pin, appended and never changed."""

    id: int
    name: str
    env: str
    from_version: str | None
    to_version: str
    content_hash: str
    actor: str
    at: datetime
    reason: str
    action: str
    prev_hash: str | None = None
    row_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["at"] = self.at.isoformat()
        return row


@dataclass(frozen=True)
class StoredConfig:
    """A model config as it is now, with its revision number."""

    config: ModelConfig
    revision: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class ConfigChange:
    """One change of a model config, appended and never changed."""

    id: int
    name: str
    revision: int
    config: ModelConfig
    previous: ModelConfig | None
    actor: str
    at: datetime
    reason: str | None

    def changed_fields(self) -> dict[str, tuple[Any, Any]]:
        """{field: (before, after)} for every field this change set to a new value."""
        after = self.config.model_dump(mode="json")
        before = self.previous.model_dump(mode="json") if self.previous else {}
        return {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
