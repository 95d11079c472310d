"""The prompt files of a project: `prompts/<name>/<version>.prompt`, found and loaded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from promptkit.errors import PromptError, PromptNotFoundError, ResourceLimitError, UsageError
from promptkit.templates.front_matter import NAME_PATTERN
from promptkit.templates.limits import LIMITS, limit_message
from promptkit.templates.parse import parse_prompt
from promptkit.templates.prompt import Prompt
from promptkit.templates.versions import LATEST, is_version, latest, sort_versions

__all__ = ["SUFFIX", "PromptLibrary"]

SUFFIX = ".prompt"


@dataclass(frozen=True)
class PromptLibrary:
    """Read access to a `prompts/` folder. Files are parsed on demand."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # accept a str too

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[str]:
        """The versions of `name`, oldest first (semantic order)."""
        folder = self.root / _checked_name(name)
        if not folder.is_dir():
            return []
        found = [p.stem for p in folder.glob(f"*{SUFFIX}") if is_version(p.stem)]
        return sort_versions(found)

    def path(self, name: str, version: str) -> Path:
        """Where `name@version` lives; a name or version that could reach outside the
        folder (`../x`, `a/b`) is refused before any file is opened."""
        if not is_version(version) and version != LATEST:
            raise UsageError(f"{version!r} is not a version: use numbers like 1.2.0")
        return self.root / _checked_name(name) / f"{version}{SUFFIX}"

    def resolve_version(self, name: str, version: str | None = None) -> str:
        """An exact version, `latest` or None (also latest) → the version that exists."""
        versions = self.versions(name)
        if not versions:
            raise PromptNotFoundError(
                f"no prompt named {name!r} under {self.root} "
                f"(known: {', '.join(self.names()) or 'none'})", prompt=name,
            )
        if version in (None, LATEST):
            return latest(versions) or ""
        if version not in versions:
            raise PromptNotFoundError(
                f"no version {version!r} (known: {', '.join(versions)})", prompt=name,
            )
        return version

    def load(self, name: str, version: str | None = None) -> Prompt:
        """Parse one version (`latest` when not given)."""
        exact = self.resolve_version(name, version)
        path = self.path(name, exact)
        size = path.stat().st_size
        if size > LIMITS.max_file_bytes:
            raise ResourceLimitError(limit_message(f"the file holds {size:,} bytes, more than",
                                                   "max_file_bytes"),
                                     prompt=name, version=exact, path=path)
        return parse_prompt(path.read_text(encoding="utf-8"), path, name=name, version=exact)

    def files(self) -> Iterator[Path]:
        """Every `.prompt` file, including misplaced ones, for lint to report."""
        if self.root.is_dir():
            yield from sorted(self.root.rglob(f"*{SUFFIX}"))

    def load_all(self) -> Iterator[Prompt | PromptError]:
        """Every version of every prompt; a file that fails to parse yields its error."""
        for name in self.names():
            for version in self.versions(name):
                try:
                    yield self.load(name, version)
                except PromptError as exc:
                    yield exc


def _checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"{name!r} is not a prompt name: lowercase letters, digits, '.', '-' "
                         f"and '_', starting with a letter or digit (no paths)")
    return name


_NAME = re.compile(NAME_PATTERN)
