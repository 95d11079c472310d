"""Fixtures of the replay tests: the fake server answering by echo, a fixtures folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from replay_helpers import echo

from promptkit.testing import FakeOpenAIServer


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(handler=echo) as fake:
        yield fake


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    return tmp_path / "fixtures"
