"""Fixtures of the core's tests: a fake server per test and a config pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from promptkit.core import ModelConfig, RetryPolicy
from promptkit.testing import FakeOpenAIServer
from promptkit.testing.fixtures import fake_openai

__all__ = ["fake_openai"]

FAST = RetryPolicy(max_attempts=3, backoff_base_s=0.01, backoff_cap_s=0.05)
"""promptkit's own backoff shrunk so that tests of its retries take milliseconds."""

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
ADA = {"name": "Ada", "age": 36}
ASK = [{"role": "system", "content": "You extract people."}, {"role": "user", "content": "Ada, 36"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as started:
        yield started


def config_for(server: FakeOpenAIServer, name: str = "main", **fields: object) -> ModelConfig:
    """A config for the fake server; the SDK's own retries off unless asked for."""
    values = {
        "name": name,
        "model": f"fake-{name}",
        "base_url": server.base_url,
        "api_key_env": "",
        "max_retries": 0,
        **fields,
    }
    return ModelConfig.model_validate(values)


@pytest.fixture
def config(server: FakeOpenAIServer) -> ModelConfig:
    return config_for(server)
