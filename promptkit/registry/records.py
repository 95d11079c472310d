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
    "CANARY_ACTIONS",
    "Action",
    "Canary",
    "ConfigChange",
    "EnvRules",
    "GateRecord",
    "GitInfo",
    "LedgerEntry",
    "MoveRequest",
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
"""What a pin move may be recorded as."""

CANARY_ACTIONS: tuple[str, ...] = ("canary", "abort")
"""Ledger rows that record a canary (started, its share changed) and its abort: the pin
does not move (a promoted canary is a `promote`)."""

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
    chain_seq: int | None = None
    db_user: str | None = None
    """The database user that wrote the row, where the database knows one: unlike `actor`,
    which the writer claims, this is what the database authenticated."""

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


@dataclass(frozen=True)
class GateRecord:
    """One stored gate verdict; `summary` is the report without its per-case rows."""

    id: int
    name: str
    candidate_version: str
    candidate_hash: str
    baseline_version: str
    baseline_hash: str
    baseline_label: str | None
    passed: bool
    summary: dict[str, Any]
    at: datetime
    actor: str
    db_user: str | None = None

    def line(self) -> str:
        against = f"{self.baseline_version}" + (f" ({self.baseline_label})"
                                                if self.baseline_label else "")
        verdict = self.summary.get("verdict") or ("pass" if self.passed else "regression")
        word = {"pass": "passed", "regression": "failed", "inconclusive": "was inconclusive",
                "error": "failed with an error"}.get(verdict, verdict)
        return (f"gate #{self.id} {word}: "
                f"{self.name}@{self.candidate_version} against {against}, "
                f"{self.at:%Y-%m-%d %H:%M:%S}Z by {self.actor}")


ROLLBACK_SKIPPABLE = ("gate", "approval")


@dataclass(frozen=True)
class EnvRules:
    """Who and what may move an environment's pins (`promptkit env protect`).

    - `require_gate`: a move needs a passing gate of the new content against the content
      served now (`force` overrides it, with a reason, recorded as such);
    - `approvals` from `approvers` (never the requester): the move waits as a request until
      they `promptkit approve` it;
    - `allowed_actors`: who may move the pins at all (empty: anyone);
    - `rollback_skips`: what a rollback to a version this environment served before may
      skip (by default both the gate and the approvals: an incident needs only a reason).
    """

    env: str
    require_gate: bool = False
    approvers: tuple[str, ...] = ()
    approvals: int = 0
    allowed_actors: tuple[str, ...] = ()
    rollback_skips: tuple[str, ...] = ROLLBACK_SKIPPABLE
    revision: int = 0

    def __post_init__(self) -> None:
        unknown = [s for s in self.rollback_skips if s not in ROLLBACK_SKIPPABLE]
        if unknown:
            raise UsageError(f"rollback may skip {' and '.join(ROLLBACK_SKIPPABLE)}, not "
                             f"{', '.join(unknown)}")
        if self.approvals < 0 or self.approvals > len(self.approvers):
            raise UsageError(f"{self.env}: {self.approvals} approvals needed but "
                             f"{len(self.approvers)} approver(s) named: name at least as "
                             f"many with --approver")

    @property
    def protected(self) -> bool:
        return bool(self.require_gate or self.approvals or self.allowed_actors)

    def as_json(self) -> dict[str, Any]:
        return {"require_gate": self.require_gate, "approvers": list(self.approvers),
                "approvals": self.approvals, "allowed_actors": list(self.allowed_actors),
                "rollback_skips": list(self.rollback_skips)}

    @classmethod
    def from_json(cls, env: str, data: dict[str, Any], revision: int = 0) -> EnvRules:
        return cls(env, bool(data.get("require_gate")), tuple(data.get("approvers", ())),
                   int(data.get("approvals", 0)), tuple(data.get("allowed_actors", ())),
                   tuple(data.get("rollback_skips", ROLLBACK_SKIPPABLE)), revision)

    def lines(self) -> list[str]:
        """The rules in words, one per line."""
        if not self.protected:
            return ["not protected: anyone with the release role may move its pins"]
        found = []
        if self.require_gate:
            found.append("a move needs a passing gate against what it serves now")
        if self.approvals:
            found.append(f"a move needs {self.approvals} approval(s) from "
                         f"{', '.join(self.approvers)} (never the requester)")
        if self.allowed_actors:
            found.append(f"only {', '.join(self.allowed_actors)} may move its pins")
        skips = " and ".join(self.rollback_skips) or "nothing"
        found.append(f"a rollback to a version it served before skips {skips}")
        return found


@dataclass(frozen=True)
class MoveRequest:
    """A move waiting for approvals, and who approved it so far."""

    id: int
    name: str
    env: str
    version: str
    content_hash: str
    action: str
    expect_hash: str | None
    actor: str
    at: datetime
    reason: str
    approved_by: tuple[str, ...] = ()
    state: str = "pending"
    """pending, done or rejected"""


@dataclass(frozen=True)
class Canary:
    """A share (`percent`) of an environment's requests served `version` instead of what its
    pin serves (`stable_hash` when the canary started)."""

    name: str
    env: str
    version: str
    content_hash: str
    stable_hash: str
    percent: float
    started_at: datetime
    started_by: str
    ledger_id: int
    looked_at: int = 0
    """The canary calls counted at the monitor's last look (its error-rate spending)."""
