"""A recording session: the fixtures root, the record mode, the cassettes used and the unused."""

from __future__ import annotations

import contextvars
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2

from promptkit.config import Settings
from promptkit.errors import ConfigError, ReplayMissError, UsageError
from promptkit.redact import Scrubber
from promptkit.replay.cassette import Cassette, Entry, read_cassette
from promptkit.replay.misses import Candidate, miss_error, nearest
from promptkit.replay.modes import RecordMode
from promptkit.replay.transport import ReplayTransport
from promptkit.replay.writer import CassetteWriter

__all__ = [
    "ACTIVE_CASSETTE",
    "ReplaySession",
    "ReplayStats",
    "Unused",
    "find_unused",
    "remove_unused",
]

ACTIVE_CASSETTE: contextvars.ContextVar[tuple[ReplaySession, Cassette] | None] = (
    contextvars.ContextVar("promptkit_active_cassette", default=None)
)
"""The session and cassette that requests made in this context are replayed from."""

SIBLINGS_SEARCHED = 200
"""How many cassettes beside an empty one a miss compares with, at most."""

KEPT_PARSED = 1024
"""How many of the most recently used cassettes stay parsed (a few MB); the others keep
only their keys, for the unused-recordings report."""


@dataclass
class ReplayStats:
    """What a session did: answers replayed, recorded, refused (misses) and failures passed on."""

    replayed: int = 0
    recorded: int = 0
    missed: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Unused:
    """Recordings a session never used: whole cassette files, and entries in used cassettes."""

    files: list[Path] = field(default_factory=list)
    entries: list[tuple[Path, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.files or self.entries)

    def lines(self, root: Path | None = None) -> list[str]:
        """One line per unused file or entry, paths relative to `root` when given."""

        def show(path: Path) -> str:
            return str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)

        return [f"unused cassette {show(p)}" for p in self.files] + [
            f"unused recording {show(p)} {key}" for p, key in self.entries
        ]


class ReplaySession:
    """Replays and records model responses under one fixtures root, in one record mode.

        session = ReplaySession("fixtures", "none")
        http = httpx2.AsyncClient(transport=session.transport())
        with session.cassette("sentiment/sentiment@1.0.0/case-1.json"):
            ...  # every request through `http` is replayed from that file (or recorded)
        unused = session.finish()  # flushes; in rewrite mode deletes what went unused
                                   # (leaving a `with ReplaySession(...)` block finishes too)

    Cassette paths are relative to the root (absolute paths are taken as they are). Each
    file is parsed once per session; lookups are by key in a dict. Thread- and task-safe.

    With `write_behind` (what the eval runner uses), a cassette's new recordings are not
    written when its block ends but handed to one background `CassetteWriter`, which writes
    them in batches off the event loop; `flush()` and `finish()` write everything, and a
    SIGKILL loses at most the last `write_interval_s` of recordings (see `replay.writer`).
    """

    def __init__(
        self,
        root: Path | str,
        mode: RecordMode | str = RecordMode.NONE,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        secrets: Iterable[str] = (),
        write_behind: bool = False,
        write_interval_s: float = 0.1,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self.mode = RecordMode.parse(mode)
        self.scrubber = Scrubber(environ, also=secrets)
        self.stats = ReplayStats()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cassettes: dict[str, Cassette] = {}
        self._recent: OrderedDict[str, Cassette] = OrderedDict()
        self._lock = threading.Lock()
        self._writer = CassetteWriter(interval_s=write_interval_s) if write_behind else None

    @classmethod
    def from_settings(cls, settings: Settings, mode: RecordMode | str = RecordMode.NONE,
                      **options: Any) -> ReplaySession:  # fmt: skip
        """A session over the project's fixtures folder (`[tool.promptkit] fixtures_dir`),
        hiding the values of the key variables the project's model configs name."""
        return cls(settings.fixtures_path, mode, secrets=settings.key_values(), **options)

    def __enter__(self) -> ReplaySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def __repr__(self) -> str:
        return f"ReplaySession({str(self.root)!r}, {self.mode.value!r})"

    # -- cassettes ---------------------------------------------------------------------

    @contextmanager
    def cassette(self, path: Path | str) -> Iterator[Cassette]:
        """Within the block, requests in this context use the cassette at `path`; new
        recordings are written (atomically) when the block ends, or with `write_behind`
        by the session's writer thread soon after."""
        cassette = self.open(path)
        cassette.hold()
        self._keep_parsed(cassette)
        token = ACTIVE_CASSETTE.set((self, cassette))
        try:
            yield cassette
        finally:
            ACTIVE_CASSETTE.reset(token)
            cassette.release()
            if self._writer is None:
                cassette.flush()
            elif cassette.dirty:
                self._writer.submit(cassette)

    def open(self, path: Path | str) -> Cassette:
        """The session's cassette for `path`, parsed on first use and cached."""
        full = self.resolve(path)
        name = str(full)
        cassette = self._cassettes.get(name)
        if cassette is None:
            with self._lock:
                cassette = self._cassettes.get(name)
                if cassette is None:
                    cassette = self._cassettes[name] = Cassette(full)
        return cassette

    def _keep_parsed(self, cassette: Cassette) -> None:
        """Keep the `KEPT_PARSED` most recently used cassettes parsed (a case's repeats and
        samples, and a gate's second look, parse their file once); older ones let go of
        their entries once nothing else holds them."""
        name = str(cassette.path)
        with self._lock:
            if name in self._recent:
                self._recent.move_to_end(name)
                return
            self._recent[name] = cassette
            cassette.hold()
            oldest = self._recent.popitem(last=False)[1] if len(self._recent) > KEPT_PARSED \
                else None
        if oldest is not None:
            oldest.release()

    def resolve(self, path: Path | str) -> Path:
        """The absolute, normalized path of a cassette named relative to the root."""
        return Path(os.path.normpath(self.root / path))

    def active(self) -> Cassette:
        """The cassette requests in this context belong to; a UsageError outside any."""
        active = ACTIVE_CASSETTE.get()
        if active is None:
            raise UsageError(
                "a model request was made with no cassette active: wrap it in "
                "`with session.cassette('path/to/cassette.json'):` (the pytest plugin does "
                "this for each eval case)"
            )
        session, cassette = active
        if session is not self:
            raise UsageError(f"the active cassette {cassette.path} belongs to {session!r}, "
                             f"not to this transport's {self!r}")  # fmt: skip
        return cassette

    def transport(self, upstream: httpx2.AsyncBaseTransport | None = None) -> ReplayTransport:
        """An httpx2 transport replaying from (and recording into) this session."""
        return ReplayTransport(self, upstream=upstream)

    # -- recording and misses ------------------------------------------------------------

    def entry(self, request: dict[str, Any], response: dict[str, Any]) -> Entry:
        """A cassette entry for a request and its recorded response, stamped now (UTC)."""
        stamp = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"recorded_at": stamp, "request": request, "response": response}

    def count(self, stat: str) -> None:
        with self._lock:
            setattr(self.stats, stat, getattr(self.stats, stat) + 1)

    def miss(self, cassette: Cassette, key: str, request: dict[str, Any]) -> ReplayMissError:
        """The error for a request `cassette` holds no recording of, with the nearest one."""
        self.count("missed")
        closest = nearest(request, self._candidates(cassette), cassette.path)
        return miss_error(cassette=cassette.path, key=key, mode=self.mode,
                          existed=cassette.existed, closest=closest, show=self.show)  # fmt: skip

    def _candidates(self, cassette: Cassette) -> Iterator[Candidate]:
        """Recorded requests of the cassette itself; if it has none (a deleted or new file),
        those of up to `SIBLINGS_SEARCHED` cassettes beside it. Bounded, so that a change
        that makes every case of a large suite miss stays fast."""
        if cassette.entries:
            yield from _entries_of(cassette)
            return
        folder = cassette.path.parent
        siblings = sorted(folder.glob("*.json")) if folder.is_dir() else []
        for path in siblings[:SIBLINGS_SEARCHED]:
            try:
                other = self.open(path)
            except ConfigError:
                continue
            yield from _entries_of(other)
            other.idle()

    def show(self, path: Path) -> str:
        """`path` as a user sees it: relative to the folder holding the fixtures root."""
        home = self.root.parent
        return path.relative_to(home).as_posix() if path.is_relative_to(home) else str(path)

    # -- the end of a session --------------------------------------------------------------

    def used(self) -> dict[str, list[str]]:
        """The keys used per cassette (root-relative POSIX paths): JSON-able, so pytest-xdist
        workers can send theirs to the controller, which calls `find_unused` on the union."""
        with self._lock:
            cassettes = list(self._cassettes.values())
        root = os.path.join(self.root, "")
        return {_relative(str(c.path), root): sorted(c.used) for c in cassettes if c.used}

    def unused(self, within: Iterable[Path | str] | None = None) -> Unused:
        """Recordings under the root (or under `within`, root-relative) this session never used."""
        self.flush()
        return find_unused(self.root, self.used(), within, keys=self._keys)

    def _keys(self, path: Path) -> Iterable[str] | None:
        cassette = self._cassettes.get(str(path))
        return cassette.keys() if cassette is not None else read_cassette(path)

    def flush(self) -> None:
        """Write every cassette that holds new recordings (the writer's queue first)."""
        if self._writer is not None:
            self._writer.drain()
        with self._lock:
            cassettes = list(self._cassettes.values())
        for cassette in cassettes:
            cassette.flush()

    def finish(self, within: Iterable[Path | str] | None = None) -> Unused:
        """Flush; in rewrite mode also delete what went unused; make what was written
        durable. Returns what was unused."""
        if self._writer is not None:
            self._writer.close()
        unused = self.unused(within)
        if self.mode is RecordMode.REWRITE:
            remove_unused(unused)
        if self.stats.recorded or (self.mode is RecordMode.REWRITE and unused):
            os.sync()  # one sync for every file written or removed, not one fsync each
        return unused


def find_unused(
    root: Path | str,
    used: Mapping[str, Iterable[str]],
    within: Iterable[Path | str] | None = None,
    *,
    keys: Callable[[Path], Iterable[str] | None] = read_cassette,
) -> Unused:
    """Cassette files under `root` (or its `within` parts) with no used key, and unused entries
    of the others; `used` maps root-relative cassette paths to the keys used in them.
    Files that are not cassettes (a dataset's JSON) are left alone."""
    base = Path(os.path.abspath(root))
    by_path = {os.path.normpath(os.path.join(base, path)): set(k) for path, k in used.items()}
    files, unused = [], []
    for path in _cassette_files(base, within):
        used_here = by_path.get(str(path), set())
        try:
            recorded = set(keys(path) or ())
        except ConfigError:
            continue
        if not used_here & recorded:
            files.append(path)
        else:
            unused += [(path, key) for key in sorted(recorded - used_here)]
    return Unused(files, unused)


def _relative(path: str, root: str) -> str:
    """`path` relative to `root` (which ends in a separator) as POSIX, else `path` itself:
    string work, as thousands of cassettes make pathlib's relative_to show in a profile."""
    if not path.startswith(root):
        return path
    return path[len(root):].replace(os.sep, "/")


def remove_unused(unused: Unused) -> None:
    """Delete unused cassette files, and drop unused entries from the other cassettes."""
    for path in unused.files:
        path.unlink(missing_ok=True)
    by_file: dict[Path, set[str]] = {}
    for path, key in unused.entries:
        by_file.setdefault(path, set()).add(key)
    for path, keys in by_file.items():
        Cassette(path).drop(keys)


def _cassette_files(root: Path, within: Iterable[Path | str] | None) -> list[Path]:
    tops = [Path(os.path.normpath(root / p)) for p in within] if within is not None else [root]
    # rglob yields paths under `root` already normalized, matching the keys of `used`
    found: set[Path] = set()
    for top in tops:
        if top.is_file():
            found.add(top)
        elif top.is_dir():
            found.update(p for p in top.rglob("*.json") if not p.name.startswith("."))
    return sorted(found)


def _entries_of(cassette: Cassette) -> Iterator[Candidate]:
    for key, entry in list(cassette.entries.items()):
        yield Candidate(cassette.path, key, entry["request"])
