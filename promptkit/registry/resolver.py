"""Resolving `name@env` or `name@version` for a running application: an in-process cache
with cheap change detection every `ttl`, and a verified last-known copy on disk for when
the registry cannot be reached."""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from promptkit.config import Settings
from promptkit.core.types import Message, ModelConfig
from promptkit.db.engine import redact
from promptkit.errors import (
    IntegrityError,
    NotPublishedError,
    PromptError,
    RegistryUnavailableError,
    StaleRegistryWarning,
    UsageError,
)
from promptkit.hashing import content_hash
from promptkit.registry.arms import arm_of
from promptkit.registry.background import Lookups, unanswered
from promptkit.registry.disk_cache import DiskCache
from promptkit.registry.heartbeats import DEFAULT_HEARTBEAT_S
from promptkit.registry.published import load_verified
from promptkit.registry.records import Canary, Pin, check_env
from promptkit.registry.references import FileDiffersError
from promptkit.registry.serving_threads import ServingThreads
from promptkit.registry.sources import ModelConfigs
from promptkit.registry.store import Registry
from promptkit.templates.front_matter import NAME_PATTERN, PromptMeta
from promptkit.templates.library import PromptLibrary
from promptkit.templates.prompt import Prompt
from promptkit.templates.versions import LATEST, is_version, parse_ref, sort_versions

__all__ = [
    "DEFAULT_HEARTBEAT_S",
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_TTL_S",
    "DEFAULT_WAIT_S",
    "Resolved",
    "Resolver",
    "Source",
    "StaleRegistryWarning",
]

DEFAULT_TTL_S = 0.5
"""How long a resolved pin is served before the registry is asked whether it moved."""

DEFAULT_WAIT_S = 0.05
"""The longest `get()` waits on the registry when it has a version to serve meanwhile."""

DEFAULT_TIMEOUT_S = 2.0
"""How long a registry query may go unanswered before it counts as an outage (and the
longest a first `get()` with no last-known copy waits)."""

Source = Literal["registry", "disk-cache", "file"]
Arm = Literal["stable", "canary"]
Key = tuple[str, str | None, str | None]  # (name, env, version): exactly one of env/version
T = TypeVar("T")

log = logging.getLogger("promptkit.registry")
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class Resolved:
    """A resolved prompt, ready to render, and where it came from. `stale` is True when
    the registry could not be asked and this is the last version known."""

    prompt: Prompt
    label: str | None
    source: Source
    stale: bool = False
    ledger_id: int | None = None
    arm: Arm | None = None
    """While a canary runs in the environment: which arm this request got."""

    @property
    def name(self) -> str:
        return self.prompt.name

    @property
    def meta(self) -> PromptMeta:
        return self.prompt.meta

    @property
    def call_metadata(self) -> dict[str, str]:
        """What a call of this prompt records beside its name and version: the label it was
        resolved by and, during a canary, the arm (so the monitor can compare them)."""
        found = {"label": self.label} if self.label else {}
        return found | ({"arm": self.arm} if self.arm else {})

    @property
    def version(self) -> str:
        return self.prompt.version

    @property
    def content_hash(self) -> str:
        return self.prompt.content_hash

    @property
    def ref(self) -> str:
        return self.prompt.ref

    def render(self, variables: dict[str, Any] | None = None, /, **more: Any) -> list[Message]:
        return self.prompt.render(variables, **more)


class Resolver:
    """Serves pinned or exact versions from memory; asks the registry at most every `ttl`
    seconds (one query for all cached pins) whether a pin moved.

    The registry is asked off the caller's thread (`background.Lookups`): a caller waits
    for it at most `wait_s` when there is a version to serve meanwhile (the one in memory,
    or the last-known copy on disk), and at most `timeout_s` when there is none. A query
    unanswered for `timeout_s` counts as an outage: what is known is served marked stale,
    a warning is given once, and the next check starts afresh on a new connection.

    With `push`, a thread learns of moves as they commit (`watch`: PostgreSQL's
    notifications, SQLite's data_version) and checks at once; the ttl check stays as the
    fallback. Every `heartbeat_s` (None: never; `default_resolver` reports every
    `DEFAULT_HEARTBEAT_S`) and after a switch, a thread reports what this process serves
    (`promptkit fleet`). `close()` stops both."""

    def __init__(
        self, registry: Registry, *, ttl: float = DEFAULT_TTL_S, cache_dir: Path | None = None,
        library: PromptLibrary | None = None, clock: Callable[[], float] = time.monotonic,
        settings: Settings | None = None, wait_s: float = DEFAULT_WAIT_S,
        timeout_s: float = DEFAULT_TIMEOUT_S, push: bool = True,
        heartbeat_s: float | None = None,
    ) -> None:
        self.registry = registry
        self.ttl, self.wait_s, self.timeout_s = ttl, wait_s, timeout_s
        self.disk = (DiskCache(Path(cache_dir) / _registry_key(registry.url))
                     if cache_dir is not None else None)
        self.library = library
        self._clock = clock
        self._keys: dict[tuple[str, str | None, str | None], Key] = {}
        self._entries: dict[Key, Resolved] = {}
        self._prompts: dict[str, Prompt] = {}
        self.configs = ModelConfigs(settings, registry, ttl=ttl, clock=clock,
                                    wait_s=wait_s, timeout_s=timeout_s)
        self._lookups = Lookups(timeout_s, clock)
        self._fresh_until = float("-inf")
        self._lock = threading.Lock()
        self._checks = 0  # refreshes started; the newest answer applied wins
        self._applied = 0
        self._down: str | None = None
        self._warned = False
        self._checked_pins: set[tuple[str, str, int]] = set()
        self._canaries: dict[tuple[str, str], _Running] = {}
        self._threads = ServingThreads(registry, self, push=push, heartbeat_s=heartbeat_s)
        self._quiet_mark: int | None = None  # the watcher's mark at the last full check

    def get(self, name: str, env: str | None = None, *, version: str | None = None,
            key: str | None = None) -> Resolved:
        """`get("sentiment", env="production")`, `get("sentiment", version="1.2.0")`, or a
        reference: `get("sentiment@production")`, `get("sentiment@1.2.0")`, `get("sentiment")`
        (the latest version: the project's newest file, else the newest published).

        While a canary runs in the environment, `key` (a user, session or request id)
        decides the arm: the same key always gets the same one; without a key each call
        draws."""
        cached = self._keys.get((name, env, version))
        if cached is None:
            return self._arm(self._first((name, env, version)), key)
        entry = self._entries[cached]
        if not (self._clock() < self._fresh_until or (cached[2] is not None and not entry.stale)):
            self._check()
            entry = self._entries[cached]
        return self._arm(entry, key) if self._canaries else entry

    def _arm(self, entry: Resolved, key: str | None) -> Resolved:
        """`entry`, or the canary's version for a request that `key` puts in its arm."""
        canary = self._canaries.get((entry.name, entry.label or ""))
        if canary is None or entry.label is None:
            return entry
        if arm_of(entry.name, entry.label, key, canary.percent) == "canary":
            return canary.resolved
        return replace(entry, arm="stable")

    def _latest(self, name: str, env: str | None, version: str | None
                ) -> tuple[str, str | None, str | None]:
        """`NAME` and `NAME@latest` name the latest version, as in every command."""
        bare, part = parse_ref(name) if "@" in name else (name, None)
        if env is not None or version not in (None, LATEST) or part not in (None, LATEST):
            return name, env, version
        files = self.library.versions(bare) if self.library is not None else []
        if files:
            return bare, None, files[-1]
        published = self._answer(("versions", bare), lambda: self.registry.versions(bare),
                                 self.timeout_s)
        if not published:
            raise NotPublishedError(f"{bare} has no version in {self.registry.url}")
        return bare, None, sort_versions([p.version for p in published])[-1]

    def _answer(self, key: object, query: Callable[[], T], timeout: float) -> T:
        """A query's answer within `timeout`, else `RegistryUnavailableError`."""
        lookup, _ = self._lookups.start(key, query)
        if not lookup.wait(timeout):
            raise RegistryUnavailableError(self._silent(timeout))
        return lookup.result()

    def _silent(self, seconds: float) -> str:
        return unanswered(self.registry.url, seconds)

    # -- change detection ---------------------------------------------------------------

    def _check(self) -> None:
        """Ask whether pins moved, once per ttl; wait for the answer at most `wait_s`."""
        with self._lock:
            due = self._clock() >= self._fresh_until
            if due:
                self._fresh_until = self._clock() + self.ttl
                self._checks += 1
            check = self._checks
        if due:
            lookup, started = self._lookups.start("pins", lambda: self._refresh(check))
            if started:
                lookup.wait(self.wait_s)
        overdue = self._lookups.overdue("pins")
        if overdue is not None:
            self._outage(check=None, reason=self._silent(overdue))
        if self._down is not None and not self._warned:
            self._warned = True
            _warn(f"promptkit: serving last-known prompt versions: {self._down}")

    def refresh(self) -> None:
        """Check now whether cached pins moved, on the calling thread (the change
        watcher's, told that something committed); callers get the answer at once."""
        with self._lock:
            self._fresh_until = self._clock() + self.ttl
            self._checks += 1
            check = self._checks
        self._refresh(check)

    def close(self) -> None:
        """Stop the change watcher and heartbeat threads (the registry stays open)."""
        self._threads.close()

    def _refresh(self, check: int) -> None:
        """Bring every cached pin (and every stale exact version) up to date; runs off the
        caller's thread, and an answer older than one already applied is dropped. Skipped
        when the watcher saw no commit since the last check (SQLite's data_version)."""
        self._threads.start()
        mark = self._threads.mark()
        with self._lock:
            known = dict(self._entries)
        if mark is not None and mark == self._quiet_mark and not any(
                e.stale for e in known.values()):
            return
        pinned = [k for k in known if k[1] is not None]
        retry = [k for k, e in known.items() if k[2] is not None and e.stale]
        updates: dict[Key, Resolved] = {}
        current: dict[tuple[str, str], Pin] = {}
        running: dict[tuple[str, str], _Running] | None = None
        try:
            if pinned:
                names = {k[0] for k in pinned}
                current = {(p.name, p.env): p for p in self.registry.pins(names)}
                for key in pinned:
                    updates[key] = self._follow(known[key], current.get((key[0], key[1] or "")))
                running = self._running(self.registry.canaries(names))
            for key in retry:
                updates[key] = self._from_registry(key)
        except RegistryUnavailableError as error:
            self._outage(check=check, reason=str(error))
            return
        with self._lock:
            if check <= self._applied:
                return
            self._applied, self._quiet_mark = check, mark
            self._entries.update(updates)
            if running is not None:
                self._canaries = running
            self._recovered()
        self._threads.served(updates.values())
        for key in pinned:  # after the switch is served: the check costs it no time
            pin = current.get((key[0], key[1] or ""))
            if pin is not None and pin.ledger_id != known[key].ledger_id:
                self._check_chain(pin)

    def _running(self, found: list[Canary]) -> dict[tuple[str, str], _Running]:
        """The canaries as the callers' arms: each with its version, loaded and verified."""
        return {(c.name, c.env): _Running(c.percent, Resolved(
            self._published(c.name, c.version, c.content_hash), c.env, "registry", False,
            c.ledger_id, "canary")) for c in found}

    def _follow(self, entry: Resolved, pin: Pin | None) -> Resolved:
        """One cached pin brought up to date with the registry's pin row."""
        if pin is None or (pin.ledger_id == entry.ledger_id and not entry.stale):
            return entry
        try:
            prompt = self._published(pin.name, pin.version, pin.content_hash)
        except IntegrityError as error:
            _warn(f"promptkit: keeping {entry.ref} for {pin.name}@{pin.env}: {error}")
            return replace(entry, stale=True)
        if entry.content_hash != prompt.content_hash or entry.stale:
            self._save(prompt, pin.env, pin.ledger_id)
        return Resolved(prompt, pin.env, "registry", False, pin.ledger_id)

    def _outage(self, *, check: int | None, reason: str) -> None:
        """Mark what is known stale (unless a newer answer already came back)."""
        with self._lock:
            if check is not None and check <= self._applied:
                return
            for key, entry in self._entries.items():
                if not entry.stale:
                    self._entries[key] = replace(entry, stale=True)
            if self._down is None:
                self._down, self._warned = reason, False  # the next caller warns

    def _recovered(self) -> None:
        if self._down is not None:
            log.warning("promptkit: registry %s reachable again", redact(self.registry.url))
            self._down = None

    # -- first resolution of a key ------------------------------------------------------

    def _first(self, raw: tuple[str, str | None, str | None]) -> Resolved:
        """A key not seen before: from the registry, waiting at most `wait_s` when a
        last-known copy on disk can be served instead, else at most `timeout_s`."""
        key = _canonical(*self._latest(*raw))
        self._threads.start()
        self._check()  # a first load starts a ttl period, as a check does
        if key in self._entries:  # the same key, asked for in other words
            return self._keep(raw, key, self._entries[key])
        lookup, _ = self._lookups.start(key, lambda: self._remember(raw, key))
        has_copy = self.disk is not None and self.disk.path(
            key[0], env=key[1], version=key[2]).is_file()
        wait = self.wait_s if has_copy else self.timeout_s
        if lookup.wait(wait):
            try:
                return lookup.result()
            except RegistryUnavailableError as error:
                return self._keep(raw, key, self._fallback(key, error))
        return self._keep(raw, key, self._fallback(
            key, RegistryUnavailableError(self._silent(wait))))

    def _remember(self, raw: tuple[str, str | None, str | None], key: Key) -> Resolved:
        """Load a key from the registry and keep it (also when its caller stopped waiting
        and served a last-known copy meanwhile)."""
        entry = self._from_registry(key)
        with self._lock:
            known = self._entries.get(key)
            if known is None or known.stale:
                self._entries[key] = entry
            self._keys[raw] = key
            entry = self._entries[key]
        self._threads.served([entry])
        return entry

    def _keep(self, raw: tuple[str, str | None, str | None], key: Key,
              entry: Resolved) -> Resolved:
        with self._lock:
            self._entries.setdefault(key, entry)
            self._keys[raw] = key
            entry = self._entries[key]
        self._threads.served([entry])
        return entry

    def _from_registry(self, key: Key) -> Resolved:
        name, env, version = key
        if env is not None:
            pin = self.registry.current(name, env)
            if pin is None:
                raise NotPublishedError(
                    f"{name} has no pin in {env}: pin one with "
                    f"`promptkit pin {name} VERSION --env {env} --reason TEXT`"
                )
            prompt = self._published(name, pin.version, pin.content_hash)
            self._save(prompt, env, pin.ledger_id)
            self._check_chain(pin)
            running = self._running(self.registry.canaries([name]))
            with self._lock:
                self._canaries = {**self._canaries, **running}
            return Resolved(prompt, env, "registry", False, pin.ledger_id)
        row = self.registry.version(name, version or "")
        prompt = self._published(name, row.version, row.content_hash, row.source)
        self._save(prompt, None, None)
        return Resolved(prompt, None, "registry", False, None)

    def _check_chain(self, pin: Pin) -> None:
        """Warn (once per pin move) when the ledger row under a pin about to be served is
        not what the chain wrote: changed, gone, or the pin was set by hand. Asked only when
        a pin moves, off the callers' path."""
        key = (pin.name, pin.env, pin.ledger_id)
        if key in self._checked_pins:
            return
        self._checked_pins.add(key)
        problem = self.registry.check_pin(pin)
        if problem is not None:
            _warn(f"promptkit: {pin.name}@{pin.env} serves {pin.version}, but {problem}; "
                  f"run `promptkit history --verify`")

    def _published(self, name: str, version: str, content_hash: str, source: str | None = None
                   ) -> Prompt:
        """A published version by hash: from memory, else from the registry, verified (and,
        with the project's files at hand, its file must hold the same content)."""
        prompt = self._prompts.get(content_hash)
        if prompt is None:
            if source is None:
                source = self.registry.version(name, version).source
            prompt = load_verified(name, version, source, content_hash)
            self._check_file(prompt)
            self._prompts[content_hash] = prompt
        return prompt

    def _check_file(self, published: Prompt) -> None:
        if self.library is None:
            return
        path = self.library.path(published.name, published.version)
        if path.is_file():
            local = self.library.load(published.name, published.version)
            if local.content_hash != published.content_hash:
                raise FileDiffersError(local, published.content_hash)

    def _fallback(self, key: Key, error: RegistryUnavailableError) -> Resolved:
        name, env, version = key
        ref = f"{name}@{env or version}"
        cached = self.disk.load(name, env=env, version=version) if self.disk else None
        if cached is not None:
            _warn(f"promptkit: registry unreachable, serving last-known {cached.prompt.ref} "
                  f"for {ref} (saved {cached.saved_at}): {error}")
            return Resolved(cached.prompt, env, "disk-cache", True, cached.ledger_id)
        if version is not None and self.library is not None:
            try:
                prompt = self.library.load(name, version)
            except (PromptError, OSError):
                pass  # no usable file either: report the outage
            else:
                _warn(f"promptkit: registry unreachable, serving {ref} from {prompt.path}, "
                      f"not verified as published: {error}")
                return Resolved(prompt, None, "file", True, None)
        where = ""
        if self.disk is not None:
            where = f" (no last-known copy at {self.disk.path(name, env=env, version=version)})"
        raise RegistryUnavailableError(f"cannot resolve {ref}: {error}{where}") from error

    def _save(self, prompt: Prompt, env: str | None, ledger_id: int | None) -> None:
        if self.disk is not None:
            self.disk.save(prompt, env=env, ledger_id=ledger_id,
                           saved_at=datetime.now(UTC).isoformat(timespec="seconds"))

    # -- model configs ------------------------------------------------------------------

    def config(self, name: str) -> ModelConfig:
        """A model config by name, from the one source (`sources.ModelConfigs`: the
        registry, then pyproject.toml; the last known kept while the registry is down)."""
        return self.configs(name)

    def config_for(self, resolved: Resolved, default: str = "default") -> ModelConfig:
        """The model config a resolved prompt calls with: inline, or by name."""
        model = resolved.prompt.meta.model
        return model if isinstance(model, ModelConfig) else self.config(model or default)


@dataclass(frozen=True)
class _Running:
    """A canary as the resolver serves it: its share and its version, resolved."""

    percent: float
    resolved: Resolved


def _registry_key(url: str) -> str:
    """The folder of one registry's last-known copies: two databases never share one (a pin
    of one is never served as 'last known' for another)."""
    return content_hash(url).split(":", 1)[1][:16]


def _canonical(name: str, env: str | None, version: str | None) -> Key:
    if "@" in name:
        if env is not None or version is not None:
            raise UsageError(f"give {name!r} or env=/version=, not both")
        name, part = parse_ref(name)
        env, version = (None, part) if part and is_version(part) else (part, None)
    if (env is None) == (version is None):
        raise UsageError(f"resolve {name!r} by env=... or version=... (exactly one)")
    if not _NAME.match(name):
        raise UsageError(f"{name!r} is not a prompt name")
    if env is not None:
        return (name, check_env(env), None)
    if not is_version(version or ""):
        raise UsageError(f"{version!r} is not a version: use numbers like 1.2.0")
    return (name, None, version)


def _warn(message: str) -> None:
    log.warning("%s", message)
    warnings.warn(message, StaleRegistryWarning, stacklevel=4)
