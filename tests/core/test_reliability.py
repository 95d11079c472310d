"""The issue's must-show behaviours, each against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from promptkit.core import AsyncClient, CircuitBreaker, Client, OutputSpec, RetryPolicy
from promptkit.errors import DeadlineExceededError, ModelAPIError, OutputValidationError
from promptkit.testing import FakeOpenAIServer, Reply
from tests.core.conftest import ADA, ASK, FAST, PERSON, config_for

SCHEMA = OutputSpec(mode="json_schema", schema=PERSON)


async def test_200_calls_through_30_percent_faults_all_return_validated_output() -> None:
    """429 (Retry-After 0.1 s), 500, connection reset and malformed bodies on 30% of requests,
    every one retried by promptkit's default policy (the SDK never retries)."""
    with FakeOpenAIServer(default=Reply(content=ADA), fault_rate=0.3, seed=2024) as server:
        async with AsyncClient([config_for(server)]) as client:
            gate = asyncio.Semaphore(50)

            async def one() -> object:
                async with gate:
                    return await client.call(ASK, config="main", output=SCHEMA)

            results = await asyncio.gather(*(one() for _ in range(200)))

    assert [r.output for r in results] == [ADA] * 200
    attempts = [a for r in results for a in r.attempts]
    requests = server.chat_requests
    faults = [r for r in requests if r.fault]
    assert len(attempts) == len(requests), "every HTTP request is in some call's attempts"
    assert 0.2 < len(faults) / len(requests) < 0.4
    errors = Counter(a.error_type for a in attempts if a.error_type)
    kinds = Counter(a.kind for a in attempts)
    assert {"RateLimitError", "InternalServerError", "MalformedResponse"} <= set(errors)
    assert errors["ReadError"] + errors["RemoteProtocolError"] > 0, errors
    assert sum(errors.values()) == len(faults)
    assert set(kinds) == {"first", "retry"} and kinds["first"] == 200, kinds
    after_429 = [
        b
        for r in results
        for a, b in zip(r.attempts, r.attempts[1:], strict=False)
        if a.status == 429
    ]
    assert after_429 and all(b.wait_s >= 0.09 for b in after_429), "Retry-After 0.1 s honoured"
    assert all(r.attempts[-1].ok and r.attempts[-1].request_id for r in results)
    print(
        f"\n200 calls, {len(requests)} requests, {len(faults)} faults: {dict(errors)}; "
        f"attempt kinds {dict(kinds)}"
    )


def test_401_is_not_retried(server: FakeOpenAIServer) -> None:
    server.api_key = "sk-right"
    config = config_for(server)
    with Client([config], retry=FAST) as client, pytest.raises(ModelAPIError) as caught:
        client.call(ASK, config="main")
    assert caught.value.status_code == 401
    assert len(server.requests) == 1
    assert [a.error_type for a in caught.value.attempts] == ["AuthenticationError"]


def test_missing_field_is_reasked_with_the_error_and_then_succeeds(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Reply(content={"name": "Ada"}), Reply(content=ADA))
    with Client([config_for(server)]) as client:
        result = client.call(ASK, config="main", output=SCHEMA)
    assert result.output == ADA
    assert [a.kind for a in result.attempts] == ["first", "reask"]
    assert result.attempts[0].error == "$: 'age' is a required property"
    reask = server.chat_requests[1].body["messages"]
    assert reask[:2] == ASK
    assert reask[2] == {"role": "assistant", "content": '{"name": "Ada"}'}
    assert reask[3]["role"] == "user" and "$: 'age' is a required property" in reask[3]["content"]
    assert result.total_usage.total_tokens > result.usage.total_tokens


async def test_always_invalid_fails_after_the_configured_attempts_with_every_error() -> None:
    with FakeOpenAIServer(default=Reply(content={"name": "Ada", "age": -1})) as server:
        async with AsyncClient([config_for(server)], max_reasks=3) as client:
            with pytest.raises(OutputValidationError) as caught:
                await client.call(ASK, config="main", output=SCHEMA)
    error = caught.value
    assert len(server.chat_requests) == 4  # the first answer and three re-asks
    assert [a.kind for a in error.attempts] == ["first", "reask", "reask", "reask"]
    assert all(a.error_type == "OutputValidationError" for a in error.attempts)
    assert all("$.age: -1 is less than the minimum of 0" in (a.error or "") for a in error.attempts)
    assert error.errors == ["$.age: -1 is less than the minimum of 0"]
    assert error.last_output == '{"name": "Ada", "age": -1}'
    assert error.usage.output_tokens == sum(a.usage.output_tokens for a in error.attempts)


def test_deadline_holds_against_a_hanging_server_sync() -> None:
    deadline = 2.0
    with (
        FakeOpenAIServer(default=Reply(hang=True)) as server,
        Client([config_for(server)]) as client,
    ):
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as caught:
            client.call(ASK, config="main", deadline_s=deadline)
        elapsed = time.monotonic() - started
    assert deadline * 0.9 <= elapsed <= deadline * 1.1, elapsed
    assert caught.value.attempts[-1].error_type == "DeadlineExceeded"
    print(f"\nhanging server, deadline {deadline} s (sync): raised after {elapsed:.3f} s")


async def test_deadline_holds_against_a_hanging_server_async() -> None:
    """An attempt would wait 60 s (timeout_s) and then be retried; the deadline is 2 s."""
    deadline = 2.0
    with FakeOpenAIServer(default=Reply(hang=True)) as server:
        async with AsyncClient([config_for(server)], deadline_s=deadline) as client:
            started = time.monotonic()
            with pytest.raises(DeadlineExceededError):
                await client.call(ASK, config="main")
            elapsed = time.monotonic() - started
    assert deadline * 0.9 <= elapsed <= deadline * 1.1, elapsed
    print(f"\nhanging server, deadline {deadline} s (async): raised after {elapsed:.3f} s")


async def test_deadline_bounds_the_retries_and_their_backoff() -> None:
    """The policy would retry these 500s a hundred times; the call's 1 s deadline cuts it."""
    retry = RetryPolicy(max_attempts=100, backoff_base_s=0.02, backoff_cap_s=0.05)
    breaker = CircuitBreaker(failure_threshold=1000)  # an outage, but the deadline is tested
    with FakeOpenAIServer(default=Reply(status=500)) as server:
        async with AsyncClient([config_for(server)], retry=retry, breaker=breaker) as client:
            started = time.monotonic()
            with pytest.raises(DeadlineExceededError) as caught:
                await client.call(ASK, config="main", deadline_s=1.0)
            elapsed = time.monotonic() - started
    assert 0.9 <= elapsed <= 1.1, elapsed
    kinds = [a.kind for a in caught.value.attempts]
    assert kinds[0] == "first" and set(kinds[1:]) == {"retry"} and len(kinds) > 5
