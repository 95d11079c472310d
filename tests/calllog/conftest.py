"""Fixtures of the call log tests: a fake server and configs for it (the database URLs come
from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from promptkit.core import ModelConfig, RetryPolicy
from promptkit.testing import FakeOpenAIServer

FAST = RetryPolicy(max_attempts=5, backoff_base_s=0.01, backoff_cap_s=0.05)
ASK = [{"role": "user", "content": "Say something."}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as started:
        yield started


def config_for(server: FakeOpenAIServer, name: str = "main", **fields: Any) -> ModelConfig:
    values: dict[str, Any] = {"name": name, "model": "gpt-4o-mini", "base_url": server.base_url,
                              "api_key_env": "", "max_retries": 0, **fields}  # fmt: skip
    return ModelConfig.model_validate(values)
