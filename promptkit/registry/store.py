"""`Registry`: the prompt registry over one database URL (publish, configs, pins, history)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from promptkit.config import Settings, load_settings
from promptkit.core.types import ModelConfig
from promptkit.db.engine import (
    create_registry_engine,
    redact,
    unavailable_as_error,
    write_transaction,
)
from promptkit.db.migrations import migrate
from promptkit.errors import ImmutableVersionError, PromptError
from promptkit.registry import approvals, canaries, chained, configs, gates, pins, protection
from promptkit.registry import published as stored
from promptkit.registry.chain import ChainCheck, LedgerHead
from promptkit.registry.records import (
    Canary,
    ConfigChange,
    EnvRules,
    GateRecord,
    GitInfo,
    LedgerEntry,
    MoveRequest,
    Pin,
    PublishedVersion,
    PublishOutcome,
    StoredConfig,
    default_actor,
)
from promptkit.templates.library import PromptLibrary
from promptkit.templates.prompt import Prompt

__all__ = ["Registry"]

T = TypeVar("T")


class Registry:
    """The registry in one database. Nothing connects until first use; the schema is
    migrated then. Every database failure surfaces as RegistryUnavailableError."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = redact(url)
        self.engine: Engine = create_registry_engine(url, create=create)
        self._migrated = False
        self._migrate_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, create: bool = True) -> Registry:
        """The project's registry (`PROMPTKIT_DB_URL`, `[tool.promptkit] db_url`, or SQLite
        in `.promptkit/`)."""
        return cls((settings or load_settings()).database_url, create=create)

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    def close(self) -> None:
        """Close pooled connections (call after fork, or when done)."""
        self.engine.dispose()

    def migrate(self) -> list[str]:
        """Apply pending schema migrations (done automatically on first use)."""
        with unavailable_as_error(self.url), self._migrate_lock:
            applied = migrate(self.engine)
            self._migrated = True
            return applied

    # -- plumbing -----------------------------------------------------------------------

    def _run(self, action: Callable[[Engine], T]) -> T:
        if not self._migrated:
            self.migrate()
        with unavailable_as_error(self.url):
            return action(self.engine)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        if not self._migrated:
            self.migrate()
        with unavailable_as_error(self.url), self.engine.connect() as conn:
            yield conn

    # -- published versions -------------------------------------------------------------

    def publish(self, prompt: Prompt, *, actor: str | None = None) -> PublishOutcome:
        """Store one version (idempotent). ImmutableVersionError if stored content differs."""
        provenance = _provenance(prompt)
        who = actor or default_actor()
        return self._run(lambda e: stored.publish(e, prompt, actor=who, provenance=provenance))

    def publish_library(
        self, library: PromptLibrary, names: Iterable[str] = (), *, actor: str | None = None,
    ) -> list[PublishOutcome]:
        """Publish every version of `names` (all prompts when empty); files that fail to
        parse or would change a released version come back `refused`, the rest go on."""
        outcomes: list[PublishOutcome] = []
        for name in list(names) or library.names():
            for version in library.versions(name) or [library.resolve_version(name)]:
                outcomes.append(self._publish_file(library, name, version, actor))
        return outcomes

    def _publish_file(
        self, library: PromptLibrary, name: str, version: str, actor: str | None,
    ) -> PublishOutcome:
        try:
            return self.publish(library.load(name, version), actor=actor)
        except ImmutableVersionError as error:
            return PublishOutcome(name, version, "refused", None, str(error))
        except PromptError as error:
            return PublishOutcome(name, version, "refused", None, f"does not parse: {error}")

    def names(self) -> list[str]:
        """Every prompt name with a published version, sorted."""
        with self._reading() as conn:
            return stored.read_names(conn)

    def version(self, name: str, version: str) -> PublishedVersion:
        with self._reading() as conn:
            return stored.read_version(conn, name, version)

    def versions(self, name: str) -> list[PublishedVersion]:
        with self._reading() as conn:
            return stored.read_versions(conn, name)

    def load(self, name: str, version: str) -> Prompt:
        """A published version, parsed and verified against its hash (IntegrityError)."""
        row = self.version(name, version)
        return stored.load_verified(row.name, row.version, row.source, row.content_hash)

    # -- pins ---------------------------------------------------------------------------

    def pin(
        self, name: str, version: str, *, env: str, reason: str, actor: str | None = None,
        action: str = "pin", expect_hash: str | None = None,
    ) -> LedgerEntry:
        """Point `name` in `env` at a published version; appends a ledger row. With
        `expect_hash`, only while `env` serves that content (else PinMovedError)."""
        who = actor or default_actor()
        return self._run(lambda e: pins.move(
            e, name, version, env=env, reason=reason, actor=who, action=action,
            expect_hash=expect_hash))

    def rollback(
        self, name: str, *, env: str, reason: str, to: str | None = None,
        actor: str | None = None,
    ) -> LedgerEntry:
        """Move the pin back to `to`, or to the version pinned before the current one
        (repeated rollbacks walk further back)."""
        who = actor or default_actor()
        return self._run(lambda e: pins.rollback(
            e, name, env=env, reason=reason, actor=who, to=to))

    def current(self, name: str, env: str) -> Pin | None:
        with self._reading() as conn:
            return pins.read_pin(conn, name, env)

    def pins(self, names: Iterable[str] | None = None) -> list[Pin]:
        with self._reading() as conn:
            return pins.read_pins(conn, names)

    def history(self, name: str, env: str | None = None) -> list[LedgerEntry]:
        with self._reading() as conn:
            return pins.read_history(conn, name, env)

    def approve(self, request_id: int, *, actor: str | None = None, reason: str = "",
                reject: bool = False) -> tuple[MoveRequest, LedgerEntry | None]:
        """Approve (or reject) pending move `request_id`; returns the request as it is now
        and the ledger row when this approval completed the move."""
        who = actor or default_actor()
        return self._run(lambda e: pins.approve(e, request_id, actor=who, reason=reason,
                                                reject=reject))

    def requests(self, *, pending: bool = True) -> list[MoveRequest]:
        """Move requests waiting for approvals (or all of them), oldest first."""
        with self._reading() as conn:
            found = approvals.read_requests(conn)
        return [r for r in found if r.state == "pending" or not pending]

    def verify_ledger(self, kept: LedgerHead | None = None) -> ChainCheck:
        """Check the hash chain over pin moves, config changes, gates, rule changes and
        approvals (and that it passes through a head kept elsewhere)."""
        with self._reading() as conn:
            return chained.check_chain(conn, kept)

    def ledger_head(self) -> LedgerHead:
        """The chain's newest entry (place and hash): export it to catch a rewrite later."""
        with self._reading() as conn:
            return chained.read_head(conn)

    def check_pin(self, pin: Pin) -> str | None:
        """What is wrong with the ledger row under `pin` (None: it is what the ledger says)."""
        with self._reading() as conn:
            return chained.check_pin(conn, pin)

    # -- canaries -------------------------------------------------------------------------

    def canary(self, name: str, version: str, *, env: str, percent: float, reason: str,
               actor: str | None = None) -> LedgerEntry:
        """Serve `version` to `percent` of `env`'s requests (or change that share)."""
        who = actor or default_actor()
        return self._run(lambda e: canaries.start(e, name, version, env=env, percent=percent,
                                                  reason=reason, actor=who))

    def abort_canary(self, name: str, *, env: str, reason: str,
                     actor: str | None = None) -> LedgerEntry:
        """Stop `name`'s canary in `env`: every request gets the pinned version again."""
        who = actor or default_actor()
        return self._run(lambda e: canaries.abort(e, name, env=env, reason=reason, actor=who))

    def promote_canary(self, name: str, *, env: str, reason: str,
                       actor: str | None = None) -> LedgerEntry:
        """Pin the canary's version (through `env`'s rules) and end the canary."""
        who = actor or default_actor()
        return self._run(lambda e: canaries.promote(e, name, env=env, reason=reason,
                                                    actor=who))

    def canaries(self, names: Iterable[str] | None = None) -> list[Canary]:
        with self._reading() as conn:
            return canaries.read_canaries(conn, names)

    def record_canary_look(self, name: str, env: str, calls: int) -> None:
        self._run(lambda e: canaries.record_look(e, name, env, calls))

    # -- protected environments ---------------------------------------------------------

    def rules(self, env: str) -> EnvRules:
        with self._reading() as conn:
            return protection.read_rules(conn, env)

    def all_rules(self) -> list[EnvRules]:
        with self._reading() as conn:
            return protection.read_all_rules(conn)

    def protect(self, rules: EnvRules, *, reason: str, actor: str | None = None) -> EnvRules:
        """Replace `rules.env`'s rules (recorded, chained, with who and why)."""
        who = actor or default_actor()
        return self._run(lambda e: protection.write_rules(e, rules, actor=who, reason=reason))

    # -- gate verdicts ------------------------------------------------------------------

    def record_gate(self, row: dict[str, Any]) -> GateRecord:
        """Store one gate verdict (the columns of `promptkit_gate_results`)."""
        def write(engine: Engine) -> GateRecord:
            with write_transaction(engine) as conn:
                return gates.record_gate(chained.ChainWriter.lock(conn), row)
        return self._run(write)

    def gates(self, name: str, *, candidate_hash: str | None = None,
              baseline_hash: str | None = None) -> list[GateRecord]:
        """Gate verdicts for `name` (of these hashes), newest first."""
        with self._reading() as conn:
            return gates.read_gates(conn, name, candidate_hash=candidate_hash,
                                    baseline_hash=baseline_hash)

    def passing_gate(self, name: str, candidate_hash: str,
                     baseline_hash: str) -> GateRecord | None:
        with self._reading() as conn:
            return gates.passing_gate(conn, name, candidate_hash, baseline_hash)

    # -- model configs ------------------------------------------------------------------

    def set_config(
        self, name: str, *, actor: str | None = None, reason: str | None = None, **changes: Any,
    ) -> ConfigChange:
        """Create a model config or change the given fields (ModelConfig's field names)."""
        who = actor or default_actor()
        return self._run(lambda e: configs.write_config(
            e, name, changes, actor=who, reason=reason))

    def config(self, name: str) -> ModelConfig:
        return self.stored_config(name).config

    def stored_config(self, name: str) -> StoredConfig:
        with self._reading() as conn:
            return configs.read_config(conn, name)

    def configs(self) -> list[StoredConfig]:
        with self._reading() as conn:
            return configs.read_configs(conn)

    def config_history(self, name: str) -> list[ConfigChange]:
        with self._reading() as conn:
            return configs.read_config_history(conn, name)


def _provenance(prompt: Prompt) -> GitInfo:
    """The commit that holds the file as published (git is imported here, on publishing
    only: the serving path never loads it, and a host without a `git` binary still
    publishes, without provenance)."""
    try:
        from promptkit.templates.provenance import find_repo, published_commit
    except ImportError:
        return GitInfo()
    repo = find_repo(prompt.path.parent) if prompt.path is not None else None
    intro = published_commit(repo, prompt.path, prompt.source)
    return GitInfo(intro.commit, f"{intro.author} <{intro.email}>") if intro else GitInfo()
