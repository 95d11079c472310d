"""Importing the user's own code that suites name as `module:attribute` (a `python:`
assertion's check, a tool's function)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

__all__ = ["import_object"]


def import_object(reference: str, root: Path | None = None) -> Any:
    """The attribute `reference` names (`module:attribute`, dots allowed in both).

    With `root`, the project's root folder is made importable first (as pytest's rootdir
    conftest would), so a suite can name a module that sits beside `pyproject.toml` however
    pytest was started. Raises ValueError for a malformed reference, ImportError when the
    module or the attribute is missing."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'module:attribute', got {reference!r}")
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    found: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ImportError(f"{module_name} has no attribute {attribute!r}") from None
    return found
