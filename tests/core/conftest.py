"""Fixtures of the core's tests: a fake server per test and a config pointing at it."""

from __future__ import annotations

from typing import Any

import pytest

from promptkit.core import ModelConfig
from promptkit.testing import FakeOpenAIServer
from promptkit.testing.fixtures import fake_openai
from tests.support import fast_retries, server_config

__all__ = ["fake_openai"]

FAST = fast_retries(3)
"""promptkit's own backoff shrunk so that tests of its retries take milliseconds."""

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
ADA = {"name": "Ada", "age": 36}
ASK = [{"role": "system", "content": "You extract people."}, {"role": "user", "content": "Ada, 36"}]


def config_for(server: FakeOpenAIServer, name: str = "main", **fields: Any) -> ModelConfig:
    return server_config(server, name, **{"model": None, **fields})


@pytest.fixture
def config(server: FakeOpenAIServer) -> ModelConfig:
    return config_for(server)
