"""promptkit's one retry schedule, seen from the server: the requests each call sends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from promptkit.config import Settings
from promptkit.core import AsyncClient, Client, RetryPolicy
from promptkit.errors import DeadlineExceededError, RetriesExhaustedError
from promptkit.testing import FakeOpenAIServer, Reply
from tests.core.conftest import ASK, FAST, config_for


def test_the_sdk_never_retries_a_failure_is_one_request(server: FakeOpenAIServer) -> None:
    """With one attempt allowed, a 500 is one request: the SDK under it adds none."""
    server.enqueue(Reply(status=500), Reply(status=500), Reply(content="fine"))
    with (
        Client([config_for(server)], retry=RetryPolicy(max_attempts=1)) as client,
        pytest.raises(RetriesExhaustedError) as caught,
    ):
        client.call(ASK, config="main")
    assert len(server.chat_requests) == 1
    assert [(a.kind, a.status) for a in caught.value.attempts] == [("first", 500)]


async def test_one_failure_is_exactly_one_more_request_after_promptkits_wait(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Reply(status=503, retry_after=0.2), Reply(content="fine"))
    async with AsyncClient([config_for(server)]) as client:
        result = await client.call(ASK, config="main")
    assert len(server.chat_requests) == 2
    assert [(a.kind, a.status) for a in result.attempts] == [("first", 503), ("retry", 200)]
    assert result.attempts[1].wait_s >= 0.19, "the server's Retry-After, waited by promptkit"


def test_a_configs_max_retries_overrides_the_policy(server: FakeOpenAIServer) -> None:
    server.default = Reply(status=500)
    configs = [config_for(server, max_retries=0), config_for(server, "twice", max_retries=2)]
    with Client(configs, retry=FAST) as client:
        for name, requests in (("main", 1), ("twice", 3)):
            server.clear()
            with pytest.raises(RetriesExhaustedError):
                client.call(ASK, config=name)
            assert len(server.chat_requests) == requests, name


async def test_retry_after_longer_than_the_deadline_ends_the_call_at_once(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Reply(status=429, retry_after=5, error_code="rate_limit_exceeded"))
    async with AsyncClient([config_for(server)]) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match=r"less than the 5\.00 s wait") as caught:
            await client.call(ASK, config="main", deadline_s=1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 0.5, "no sleeping into the deadline"
    assert len(server.chat_requests) == 1
    assert [a.status for a in caught.value.attempts] == [429]


def test_the_policy_comes_from_settings_unless_a_count_is_given(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path, retry={"max_attempts": 4, "backoff_base_s": 0.5})
    assert RetryPolicy.from_settings(settings) == RetryPolicy(max_attempts=4, backoff_base_s=0.5)
    assert RetryPolicy.from_settings(settings, retries=0).max_attempts == 1
    assert RetryPolicy.from_settings(Settings(root=tmp_path)) == RetryPolicy()
