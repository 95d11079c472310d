"""Fixtures of the stream, SSE and budget tests: a fake server per test, priced configs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from promptkit.core import ModelConfig, RetryPolicy
from promptkit.core.tokens import count_message_tokens
from promptkit.testing import FakeOpenAIServer, Reply

FAST = RetryPolicy(max_attempts=3, backoff_base_s=0.01, backoff_cap_s=0.05)
"""promptkit's own backoff shrunk so that tests of its retries take milliseconds."""

ASK = [{"role": "user", "content": "Say something."}]
MODEL = "gpt-4o-mini"  # counted with o200k_base, so the worst case is exact


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as started:
        yield started


def config_for(server: FakeOpenAIServer, name: str = "main", **fields: Any) -> ModelConfig:
    """A config for the fake server: no key, the SDK's own retries off unless asked for."""
    values: dict[str, Any] = {
        "name": name,
        "model": MODEL,
        "base_url": server.base_url,
        "api_key_env": "",
        "max_retries": 0,
        **fields,
    }
    return ModelConfig.model_validate(values)


def billed(content: str, *, completion_tokens: int = 10, **reply: Any) -> Any:
    """A handler answering `content` with the usage OpenAI would report: the prompt counted
    with the model's tokenizer, `completion_tokens` of output."""

    def handler(body: dict[str, Any], index: int) -> Reply:
        prompt = count_message_tokens(body.get("messages", []), MODEL).tokens
        usage = {"prompt_tokens": prompt, "completion_tokens": completion_tokens}
        return Reply(content=content, usage=usage, **reply)

    return handler
