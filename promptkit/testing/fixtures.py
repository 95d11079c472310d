"""pytest fixtures for users' own tests: a fake model server their code talks to unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from promptkit.testing.fake_server import FakeOpenAIServer

__all__ = ["fake_openai"]

FAKE_API_KEY = "sk-promptkit-fake"


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """A started `FakeOpenAIServer`; OPENAI_BASE_URL and OPENAI_API_KEY point the OpenAI
    SDK at it, ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY the Anthropic SDK.

    Script it with `fake_openai.enqueue(Reply(...))`, `.default`, `.handler` or
    `.fault_rate`; read what your code sent in `fake_openai.requests`.
    """
    from promptkit.testing.fake_server import FakeOpenAIServer  # on use: see local/fixtures.py

    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", FAKE_API_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_API_KEY)
        yield server
