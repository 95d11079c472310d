"""Which versions of a prompt an eval run covers: `--prompt-version` and its forms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from promptkit.errors import NotPublishedError, UsageError
from promptkit.templates import PromptLibrary
from promptkit.templates.provenance import added_since, find_repo
from promptkit.templates.versions import LATEST, is_version

__all__ = ["ALL", "CHANGED", "NothingSelected", "select_versions"]

ALL, CHANGED = "all", "changed"

LabelResolver = Callable[[str, str], str]
"""(prompt name, label) → the version pinned to that label."""


class NothingSelected(UsageError):
    """`--prompt-version` selects no version of this prompt (its suites are skipped)."""


def select_versions(
    library: PromptLibrary,
    name: str,
    spec: str = LATEST,
    *,
    resolve_label: LabelResolver | None = None,
    base: str | None = None,
) -> list[str]:
    """The versions of `name` that `spec` selects, oldest first.

    `spec` is `latest`, `all`, `changed` (versions added since git revision `base`), an
    exact version, a label pinned in the registry (`production`), or a comma list of those.
    A part that names a version this prompt lacks, or a label it has no pin for, selects
    nothing; when no part selects anything, `NothingSelected` says why (`changed` selecting
    none is not an error).
    """
    known = library.versions(name)
    chosen: list[str] = []
    missing: list[str] = []
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    for part in parts:
        try:
            found = _one(library, name, part, known, resolve_label, base)
        except NotPublishedError as exc:
            missing.append(str(exc))
            continue
        if not found and part != CHANGED:
            missing.append(f"{name} has no version {part!r} (known: {', '.join(known)})")
        chosen += [v for v in found if v not in chosen]
    if missing and not chosen and CHANGED not in parts:
        raise NothingSelected("; ".join(missing))
    return [v for v in known if v in chosen]


def _one(library: PromptLibrary, name: str, part: str, known: list[str],
         resolve_label: LabelResolver | None, base: str | None) -> list[str]:
    if part == ALL:
        return known
    if part == LATEST:
        return known[-1:]
    if part == CHANGED:
        return _changed(library, name, base)
    if is_version(part):
        return [part] if part in known else []
    if resolve_label is None:
        raise UsageError(f"{part!r} is not a version, and no registry is set up to resolve labels")
    return [resolve_label(name, part)]


def _changed(library: PromptLibrary, name: str, base: str | None) -> list[str]:
    if base is None:
        raise UsageError("--prompt-version=changed needs --prompt-base REF (e.g. origin/main)")
    repo = find_repo(library.root)
    if repo is None:
        raise UsageError(f"--prompt-version=changed: {library.root} is not in a git repository")
    folder = library.root / name
    if not folder.is_dir():
        return []
    return [Path(p).stem for p in added_since(repo, base, folder) if Path(p).suffix == ".prompt"]
