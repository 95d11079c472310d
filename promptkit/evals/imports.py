"""Importing the user's own code that suites name as `module:attribute` (a `python:`
assertion's check, a tool's function), with the project root importable."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["import_object", "importable_from"]


def import_object(reference: str, root: Path | None = None) -> Any:
    """The attribute `reference` names (`module:attribute`, dots allowed in both), its module
    looked up in the project's `root` first (as pytest finds a root conftest), then on
    `sys.path`. Raises ValueError for a malformed reference, ImportError naming what is
    missing."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'module:attribute', got {reference!r}")
    with importable_from(root):
        try:
            found: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(f"cannot import {module_name!r}: {exc} (modules are looked up "
                              f"from the project root, then sys.path)") from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ImportError(f"module {module_name!r} has no attribute {attribute!r}"
                              ) from None
    return found


@contextmanager
def importable_from(root: Path | None) -> Iterator[None]:
    """The project root first on `sys.path` while a module is imported; the path is
    restored afterwards, and the module stays loaded."""
    entry = str(root) if root is not None else None
    added = entry is not None and entry not in sys.path
    if added:
        sys.path.insert(0, str(entry))
        importlib.invalidate_caches()
    try:
        yield
    finally:
        if added:
            sys.path.remove(str(entry))
