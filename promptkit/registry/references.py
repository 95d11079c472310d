"""The one reference resolver: what `NAME`, `NAME@VERSION` and `NAME@LABEL` mean in every
command, the pytest options, the gate, promote and `promptkit.get`.

- `NAME` (or `NAME@latest`) is the highest version in `prompts/NAME/`.
- `NAME@VERSION` is that version's file, or the registry's published copy when the file
  is absent.
- `NAME@LABEL` (`production`) is the version pinned to that label in the registry.

A version that was published must still hold its published content: a file edited after
publishing is one clear error everywhere (`FileDiffersError`, naming the file, both hashes
and what to do), never a silent choice between the file and the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptkit.errors import (
    IntegrityError,
    NotPublishedError,
    RegistryUnavailableError,
    UsageError,
)
from promptkit.registry.published import load_verified
from promptkit.registry.records import check_env
from promptkit.registry.store import Registry
from promptkit.templates import Prompt, PromptLibrary
from promptkit.templates.versions import LATEST, is_version, parse_ref

__all__ = ["FileDiffersError", "Reference", "References"]


class FileDiffersError(IntegrityError):
    """A prompt file no longer holds the content its version was published with."""

    def __init__(self, prompt: Prompt, published_hash: str, label: str | None = None) -> None:
        self.path, self.name, self.version, self.label = (prompt.path, prompt.name,
                                                          prompt.version, label)
        self.published_hash, self.file_hash = published_hash, prompt.content_hash
        pinned = f", pinned to {label}," if label else ""
        super().__init__(
            f"{prompt.path} differs from {prompt.name}@{prompt.version} as published{pinned} "
            f"(file {prompt.content_hash[:19]}…, published {published_hash[:19]}…): a "
            f"published version never changes. Restore the file (`git checkout -- "
            f"{prompt.path}`) and put the change in a new version "
            f"(`promptkit new {prompt.name}`).")


@dataclass(frozen=True)
class Reference:
    """A resolved reference: the prompt, the label it was asked by (if any), and where its
    content came from (`file`, or `registry` when the file is absent)."""

    prompt: Prompt
    label: str | None = None
    source: str = "file"


class References:
    """Resolves references against the project's files and registry (None: files only)."""

    def __init__(self, library: PromptLibrary, registry: Registry | None) -> None:
        self.library, self.registry = library, registry

    def resolve(self, ref: str, spec: str | None = None) -> Reference:
        """`resolve("sentiment@production")`, or `resolve("sentiment", "production")`."""
        name, part = parse_ref(ref)
        if spec is not None:
            if part is not None:
                raise UsageError(f"give {ref!r} or a version/label, not both")
            part = spec
        if part is None or part == LATEST:
            return self._version(name, self.library.resolve_version(name, LATEST))
        if is_version(part):
            return self._version(name, part)
        return self._label(name, part)

    def version_of(self, name: str, label: str) -> str:
        """The version `label` pins (its file checked): `--prompt-version=production`."""
        return self._label(name, label).prompt.version

    def _version(self, name: str, version: str, label: str | None = None,
                 published_hash: str | None = None) -> Reference:
        path = self.library.path(name, version)
        if not path.is_file():
            return Reference(self._published_copy(name, version, published_hash), label,
                             "registry")
        prompt = self.library.load(name, version)
        expected = published_hash or self._published_hash(name, version)
        if expected is not None and expected != prompt.content_hash:
            raise FileDiffersError(prompt, expected, label)
        return Reference(prompt, label, "file")

    def _label(self, name: str, label: str) -> Reference:
        self.library.versions(name)  # a name that is no prompt name fails here, at once
        check_env(label)
        if self.registry is None:
            raise UsageError(f"{label!r} is not a version, and no registry is set up to "
                             f"resolve labels")
        pin = self.registry.current(name, label)
        if pin is None:
            raise NotPublishedError(f"{name} has no version pinned to {label!r} in "
                                    f"{self.registry.url}: give a version, or pin one with "
                                    f"`promptkit pin {name} VERSION --env {label} --reason ...`")
        return self._version(name, pin.version, label, pin.content_hash)

    def _published_hash(self, name: str, version: str) -> str | None:
        """The hash `version` was published with; None when unpublished or unknowable
        (no registry, or it cannot be reached: the file is all there is)."""
        if self.registry is None:
            return None
        try:
            return self.registry.version(name, version).content_hash
        except (NotPublishedError, RegistryUnavailableError):
            return None

    def _published_copy(self, name: str, version: str, content_hash: str | None) -> Prompt:
        """The registry's copy of a version whose file is absent; else the library's own
        "no such version" error (which lists the versions there are)."""
        try:
            if self.registry is None:
                raise NotPublishedError(f"{name}@{version}")
            row = self.registry.version(name, version)
        except (NotPublishedError, RegistryUnavailableError):
            self.library.resolve_version(name, version)  # raises PromptNotFoundError
            raise
        return load_verified(name, version, row.source, content_hash or row.content_hash)
