"""Database URLs for registry tests: SQLite in a temporary folder, and a fresh schema on the
PostgreSQL and MariaDB servers at 127.0.0.1 (skipped when absent, failed when CI=true)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptkit.registry import Registry, Resolver
from promptkit.templates.library import PromptLibrary

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def library(tmp_path: Path) -> PromptLibrary:
    """A copy of the example prompts (sentiment, support_assistant, extract_contact)."""
    shutil.copytree(REPO / "prompts", tmp_path / "lib" / "prompts")
    return PromptLibrary(tmp_path / "lib" / "prompts")


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    registry = Registry(db_url)
    yield registry
    registry.close()


@pytest.fixture(autouse=True)
def close_resolvers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Resolver]]:
    """Every resolver a test makes, closed after it: its watcher's connection and thread
    never outlive the test (nor its database schema)."""
    made: list[Resolver] = []
    original = Resolver.__init__

    def init(self: Resolver, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(Resolver, "__init__", init)
    yield made
    for resolver in made:
        resolver.close()
