"""Database URLs for registry tests: SQLite in a temporary folder, and a fresh schema on the
PostgreSQL and MariaDB servers at 127.0.0.1 (skipped when absent, failed when CI=true)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptkit.registry import Registry
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
