"""Explaining a replay miss: the nearest recorded request and how it differs, as JSON paths."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptkit.errors import ReplayMissError
from promptkit.replay.modes import RecordMode

__all__ = ["Candidate", "Nearest", "differences", "miss_error", "nearest"]

SHOWN_DIFFERENCES = 8
VALUE_WIDTH = 60
_ABSENT = object()


@dataclass(frozen=True)
class Candidate:
    """A recorded request that a missed request may be compared with."""

    path: Path
    key: str
    request: dict[str, Any]


@dataclass(frozen=True)
class Nearest:
    """The closest recorded request and the differences from the missed one to it."""

    candidate: Candidate
    differences: list[str]


def differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Every leaf where two JSON values differ: ``path: ours != theirs`` (values truncated)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found: list[str] = []
        for name in sorted(set(ours) | set(theirs)):
            step = f"{path}.{name}" if path else str(name)
            found += differences(ours.get(name, _ABSENT), theirs.get(name, _ABSENT), step)
        return found
    if isinstance(ours, list) and isinstance(theirs, list):
        found = []
        for i in range(max(len(ours), len(theirs))):
            mine = ours[i] if i < len(ours) else _ABSENT
            other = theirs[i] if i < len(theirs) else _ABSENT
            found += differences(mine, other, f"{path}[{i}]")
        return found
    if type(ours) is type(theirs) and ours == theirs:
        return []
    left, right = _show_pair(ours, theirs)
    return [f"{path or '<request>'}: {left} != {right}"]


def nearest(request: dict[str, Any], candidates: Iterable[Candidate], home: Path) -> Nearest | None:
    """The candidate with the fewest differing paths (ties: the cassette `home`, then by key)."""
    best: tuple[tuple[int, bool, str], Nearest] | None = None
    for candidate in candidates:
        found = differences(request, candidate.request)
        rank = (len(found), candidate.path != home, candidate.key)
        if best is None or rank < best[0]:
            best = (rank, Nearest(candidate, found))
    return best[1] if best else None


def miss_error(
    *,
    cassette: Path,
    key: str,
    mode: RecordMode,
    existed: bool,
    closest: Nearest | None,
    show: Callable[[Path], str] = str,
) -> ReplayMissError:
    """The error for a request with no recording, naming where to look and how to record.

    `show` renders paths (e.g. relative to the project)."""
    lines = [f"no recording matches this request in {show(cassette)} (record mode {mode})",
             f"  request key: {key}"]  # fmt: skip
    if closest is None:
        lines.append(f"  no recorded request to compare with in {show(cassette.parent)}")
    else:
        lines += _describe(closest, cassette, show)
    lines.append(f"  to record it: {_advice(mode, existed)}")
    return ReplayMissError(
        "\n".join(lines),
        key=key,
        nearest=closest.candidate.key if closest else None,
        differences=closest.differences if closest else (),
    )


def _describe(closest: Nearest, cassette: Path, show: Callable[[Path], str]) -> list[str]:
    path = closest.candidate.path
    where = "" if path == cassette else f" in {show(path)}"
    count = len(closest.differences)
    plural = "s" if count != 1 else ""
    lines = [f"  nearest recorded request: {closest.candidate.key}{where} "
             f"({count} difference{plural}; this request != recorded)"]  # fmt: skip
    lines += [f"    {line}" for line in closest.differences[:SHOWN_DIFFERENCES]]
    if count > SHOWN_DIFFERENCES:
        lines.append(f"    ... and {count - SHOWN_DIFFERENCES} more")
    return lines


def _advice(mode: RecordMode, existed: bool) -> str:
    if mode is RecordMode.ONCE and existed:
        return ("the cassette exists, so --prompt-record=once only replays it: "
                "use --prompt-record=new to add this request (or delete the file)")  # fmt: skip
    return ("run with --prompt-record=once (records a cassette that does not exist yet) "
            "or --prompt-record=new (adds missing requests to existing cassettes)")  # fmt: skip


def _show_pair(ours: Any, theirs: Any) -> tuple[str, str]:
    """Both values, cut to a readable width; long strings from just before they diverge."""
    if isinstance(ours, str) and isinstance(theirs, str):
        common = 0
        for a, b in zip(ours, theirs, strict=False):
            if a != b:
                break
            common += 1
        start = common - 20 if common > 30 else 0
        return _show_text(ours, start), _show_text(theirs, start)
    return _show(ours), _show(theirs)


def _show_text(text: str, start: int) -> str:
    shown = ("…" if start else "") + text[start:]
    if len(shown) > VALUE_WIDTH:
        shown = shown[: VALUE_WIDTH - 1] + "…"
    return repr(shown)


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "<absent>"
    if isinstance(value, str):
        return _show_text(value, 0)
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"
