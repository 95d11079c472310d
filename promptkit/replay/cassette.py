"""One cassette file: its JSON format, parsed once, looked up by key, written atomically.

    {
      "entries": {
        "sha256:…": {
          "recorded_at": "2025-05-01T12:00:00Z",
          "request": {"body": {"messages": [...], "model": "...", ...},
                      "endpoint": "POST /chat/completions", "repeat": 0},
          "response": {"body": {...}, "status": 200}          (or "events": [{"data": ...}, ...])
        }
      },
      "format": "promptkit-cassette/1"
    }

Pretty JSON with sorted keys, a 2-space indent and a trailing newline, so a re-recording
shows up in a diff as the lines that changed. No headers are ever stored.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from promptkit.errors import ConfigError
from promptkit.files import read_bytes, write_atomically

__all__ = ["FORMAT", "Cassette", "dump_cassette", "merge_cassette", "read_cassette",
           "write_cassette"]

FORMAT = "promptkit-cassette/1"

Entry = dict[str, Any]


def dump_cassette(entries: Mapping[str, Entry]) -> str:
    """The file text of a cassette holding `entries` (sorted, indented, newline-terminated)."""
    document = {"entries": dict(entries), "format": FORMAT}
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return text + "\n"


def read_cassette(path: Path) -> dict[str, Entry] | None:
    """The entries of the cassette at `path`; None when there is no such file."""
    try:
        text = read_bytes(path)
    except FileNotFoundError:
        return None
    try:
        document = json.loads(text)  # UTF-8, as written
    except ValueError as exc:
        raise ConfigError(f"{path}: not a promptkit cassette: invalid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a promptkit cassette (expected format {FORMAT!r})")
    entries = document.get("entries")
    if not isinstance(entries, dict) or not all(_valid(e) for e in entries.values()):
        raise ConfigError(f"{path}: cassette entries must each hold a request and a response")
    return entries


def write_cassette(path: Path, entries: Mapping[str, Entry]) -> None:
    """Write atomically (no torn files, even when processes race). Not fsynced one by one:
    a recording run writes thousands, and `ReplaySession.finish` syncs them all at once."""
    write_atomically(path, dump_cassette(entries), durable=False)


def merge_cassette(path: Path, recorded: Mapping[str, Entry],
                   keep: Iterable[str] | None = None) -> dict[str, Entry]:
    """Write `recorded` into the cassette at `path`, keeping the entries the file holds
    (another process may have written some), or only those under `keep` when given (the
    file is deleted if none remain); returns what the file holds now."""
    merged = read_cassette(path) or {}
    merged.update(recorded)
    if keep is not None:
        kept = set(keep)
        merged = {k: v for k, v in merged.items() if k in kept}
    _store(path, merged)
    return merged


def _store(path: Path, entries: dict[str, Entry]) -> None:
    """Write `entries` to `path`, or delete the file when there are none."""
    if entries:
        write_cassette(path, entries)
    else:
        path.unlink(missing_ok=True)


def _valid(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        return False
    response = entry.get("response")
    return isinstance(response, dict) and isinstance(response.get("status"), int)


class Cassette:
    """The recordings of one file in a session: loaded once, O(1) by key, written when dirty.

    Safe to share between asyncio tasks and threads; each flush re-reads the file and keeps
    entries another process wrote meanwhile, so pytest-xdist workers never lose each other's.

    While nothing holds it (a `with session.cassette(...)` block, or the session's set of
    recently used cassettes) and nothing waits to be written, its parsed entries are let go
    and only their keys kept (`idle`): a run of 100,000 cases keeps the recent cases parsed,
    not every case it ran. Touching `entries` again re-reads them.
    """

    __slots__ = ("_entries", "_flushing", "_holds", "_keys", "_lock", "_recorded", "existed",
                 "path", "used")

    def __init__(self, path: Path) -> None:
        self.path = path
        loaded = read_cassette(path)
        self.existed = loaded is not None
        """Whether the file existed when the session first opened it (what `once` goes by)."""
        self._entries: dict[str, Entry] | None = loaded or {}
        self._keys: tuple[str, ...] = ()
        self.used: set[str] = set()
        self._recorded: set[str] = set()
        self._holds = 0
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        """Held while the file is written: one writer of it at a time in this process."""

    @property
    def entries(self) -> dict[str, Entry]:
        """Every recording in the file (and those made since), parsed again if let go."""
        entries = self._entries
        if entries is None:
            with self._lock:
                entries = self._loaded()
        return entries

    def keys(self) -> set[str]:
        """The keys of `entries`, without parsing the file again."""
        with self._lock:
            return self._known_keys()

    def get(self, key: str) -> Entry | None:
        """The entry recorded under `key`, marking it used; None when there is none."""
        entry = self.entries.get(key)
        if entry is not None:
            with self._lock:
                self.used.add(key)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        """Record `entry` under `key` (replacing any), to be written by the next flush."""
        with self._lock:
            self._loaded()[key] = entry
            self.used.add(key)
            self._recorded.add(key)

    @property
    def dirty(self) -> bool:
        return bool(self._recorded)

    def hold(self) -> None:
        """Keep the parsed entries until a matching `release`."""
        with self._lock:
            self._holds += 1

    def release(self) -> None:
        with self._lock:
            self._holds -= 1
        self.idle()

    def idle(self) -> None:
        """Let the parsed entries go if nothing holds them and nothing waits to be written."""
        with self._lock:
            busy = self._holds or self._recorded or self._flushing.locked()
            if self._entries is not None and not busy:
                self._keys = tuple(self._entries)
                self._entries = None

    def flush(self, *, prune: bool = False) -> None:
        """Write new recordings; with `prune`, keep only the entries used in this session.

        The file is read, merged and written outside the lock that `get` and `put` take, so
        the event loop never waits on the disk; a failed write keeps the recordings dirty."""
        with self._flushing:
            with self._lock:  # what waits to be written is parsed: `idle` keeps it
                recorded = {k: self._loaded()[k] for k in self._recorded}
                used = set(self.used)
                stale = prune and bool(self._known_keys() - used)
                self._recorded.clear()
            if not recorded and not stale:
                return
            try:
                merged = merge_cassette(self.path, recorded, used if prune else None)
            except BaseException:
                with self._lock:
                    self._recorded.update(recorded)
                raise
            with self._lock:
                since = self._loaded()
                self._entries = {**merged, **{k: since[k] for k in self._recorded}}
        self.idle()

    def hand_off(self) -> dict[str, Entry]:
        """The recordings not yet written, for a writer in another process to write. The
        cassette stays parsed (it is not let go, nor written here) until `handed_back`."""
        self._flushing.acquire()
        with self._lock:
            recorded = {k: self._loaded()[k] for k in self._recorded}
            self._recorded.clear()
        return recorded

    def handed_back(self, failed: Iterable[str] = ()) -> None:
        """The writer is done with what `hand_off` gave it; the `failed` keys wait to be
        written again (by the next flush, as after a failed `flush`)."""
        with self._lock:
            self._recorded.update(failed)
        self._flushing.release()
        self.idle()

    def drop(self, keys: Iterable[str]) -> None:
        """Remove the entries under `keys` from the file (deleting it if none remain)."""
        doomed = set(keys)
        with self._lock:
            kept = {k: v for k, v in (read_cassette(self.path) or {}).items() if k not in doomed}
            self._entries = kept
            self._recorded.clear()
            _store(self.path, kept)

    def _known_keys(self) -> set[str]:
        """The keys, parsed or kept (the lock is held)."""
        return set(self._keys if self._entries is None else self._entries)

    def _loaded(self) -> dict[str, Entry]:
        """The parsed entries, read again if they were let go (the lock is held)."""
        if self._entries is None:
            self._entries = read_cassette(self.path) or {}
        return self._entries
