"""Fixtures of the stream, SSE and budget tests: a fake server per test, priced configs."""

from __future__ import annotations

from typing import Any

from promptkit.core import ModelConfig
from promptkit.core.tokens import count_message_tokens
from promptkit.testing import FakeOpenAIServer, Reply
from tests.support import fast_retries, server_config

FAST = fast_retries(3)
"""promptkit's own backoff shrunk so that tests of its retries take milliseconds."""

ASK = [{"role": "user", "content": "Say something."}]
MODEL = "gpt-4o-mini"  # counted with o200k_base, so the worst case is exact


def config_for(server: FakeOpenAIServer, name: str = "main", **fields: Any) -> ModelConfig:
    return server_config(server, name, **{"model": MODEL, **fields})


def billed(content: str, *, completion_tokens: int = 10, **reply: Any) -> Any:
    """A handler answering `content` with the usage OpenAI would report: the prompt counted
    with the model's tokenizer, `completion_tokens` of output."""

    def handler(body: dict[str, Any], index: int) -> Reply:
        prompt = count_message_tokens(body.get("messages", []), MODEL).tokens
        usage = {"prompt_tokens": prompt, "completion_tokens": completion_tokens}
        return Reply(content=content, usage=usage, **reply)

    return handler
