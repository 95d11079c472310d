"""Package attributes imported on first use (PEP 562), so `import promptkit` stays light.

A package lists its public names once, as the imports of its `if TYPE_CHECKING:` block
(which type checkers read), and ends with

    if not TYPE_CHECKING:
        __getattr__ = lazy_attributes(__name__)

The first access to a name imports it from the module that block names for it.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["lazy_attributes", "type_checking_imports"]


def lazy_attributes(package: str) -> Callable[[str], Any]:
    """A module `__getattr__` importing each name from where the package's
    `if TYPE_CHECKING:` block imports it."""
    module = sys.modules[package]
    namespace = module.__dict__
    homes: dict[str, str] | None = None

    def __getattr__(name: str) -> Any:
        nonlocal homes
        if homes is None:
            homes = type_checking_imports(Path(str(module.__file__)))
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value  # later lookups skip this function
        return value

    return __getattr__


def type_checking_imports(path: Path) -> dict[str, str]:
    """`name → module` for every `from module import name` inside the file's
    `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    homes: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        homes[alias.asname or alias.name] = statement.module
    return homes


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
