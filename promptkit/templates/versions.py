"""Version identifiers of prompts: parsing, semantic ordering, `latest`, and the next version."""

from __future__ import annotations

from collections.abc import Iterable

from packaging.version import InvalidVersion, Version

from promptkit.errors import UsageError

__all__ = [
    "LATEST",
    "is_version",
    "latest",
    "next_version",
    "parse_ref",
    "sort_versions",
    "version_key",
]

LATEST = "latest"


def version_key(version: str) -> Version:
    """The sort key of a version: compared as numbers, pre-releases before releases."""
    try:
        return Version(version)
    except InvalidVersion as exc:
        raise UsageError(
            f"{version!r} is not a version: use numbers like 1.2.0 or v1.2"
        ) from exc


def is_version(text: str) -> bool:
    """True for identifiers such as `1.2.0`, `v1.2` or `2.0.0rc1`; False for labels."""
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Oldest first, compared as numbers: `1.10.0` comes after `1.9.0`."""
    return sorted(versions, key=version_key)


def latest(versions: Iterable[str]) -> str | None:
    """The highest version, or None when there is none."""
    ordered = sort_versions(versions)
    return ordered[-1] if ordered else None


def next_version(current: str, bump: str = "minor") -> str:
    """The version after `current`, keeping its style (`v` prefix, number of parts)."""
    parsed = version_key(current)
    parts = list(parsed.release) + [0] * (3 - len(parsed.release))
    index = {"major": 0, "minor": 1, "patch": 2}.get(bump)
    if index is None:
        raise UsageError(f"bump must be major, minor or patch, not {bump!r}")
    parts[index] += 1
    parts[index + 1 :] = [0] * (len(parts) - index - 1)
    width = max(len(parsed.release), index + 1)
    prefix = "v" if current.lower().startswith("v") else ""
    return prefix + ".".join(str(p) for p in parts[:width])


def parse_ref(ref: str) -> tuple[str, str | None]:
    """Split `name@version` or `name@label` into its parts; a bare name has no version."""
    name, sep, version = ref.partition("@")
    if not name or (sep and not version):
        raise UsageError(f"{ref!r} is not a prompt reference: use NAME, NAME@VERSION or NAME@LABEL")
    return name, (version or None)
