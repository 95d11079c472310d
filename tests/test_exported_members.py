"""Every public module declares a sorted `__all__`, and every name in it exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import promptkit

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(promptkit.__path__, "promptkit.")
    if not m.name.rsplit(".", 1)[-1].startswith("_")
)


def isort_order(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions."""
    group = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return group, name


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_real(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        pytest.skip(f"{name} exports nothing by __all__")
    assert list(exported) == sorted(exported, key=isort_order), f"{name}.__all__ is not sorted"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


@pytest.mark.parametrize("package", ["promptkit", "promptkit.core", "promptkit.local",
                                     "promptkit.replay", "promptkit.testing"])
def test_a_lazy_package_lists_each_name_once_and_every_one_resolves(package: str) -> None:
    """The names of a lazily loaded package are its `if TYPE_CHECKING:` imports (what type
    checkers see), the same as its `__all__`, and each imports from where it says."""
    import importlib
    from pathlib import Path

    from promptkit.lazy import type_checking_imports

    module = importlib.import_module(package)
    homes = type_checking_imports(Path(str(module.__file__)))
    assert set(homes) <= set(module.__all__)
    assert all(getattr(module, name) is not None for name in homes)
