"""Fixtures of the call log tests: a fake server and configs for it (the database URLs come
from tests/conftest.py)."""

from __future__ import annotations

from typing import Any

from promptkit.core import ModelConfig
from promptkit.testing import FakeOpenAIServer
from tests.support import fast_retries, server_config

FAST = fast_retries(5)
ASK = [{"role": "user", "content": "Say something."}]


def config_for(server: FakeOpenAIServer, name: str = "main", **fields: Any) -> ModelConfig:
    return server_config(server, name, **{"model": "gpt-4o-mini", **fields})
