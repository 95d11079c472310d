"""promptkit's backoff, the classification of failures, and the circuit breaker's states."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from promptkit.core import CircuitBreaker, RetryPolicy
from promptkit.core.failures import classify

REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")


def status_error(status: int, code: str | None = None) -> openai.APIStatusError:
    body = {"error": {"message": "m", "type": "t", "code": code}}
    response = httpx2.Response(
        status, json=body, request=REQUEST, headers={"x-request-id": "req_1"}
    )
    cls = {401: openai.AuthenticationError, 429: openai.RateLimitError}.get(
        status, openai.APIStatusError
    )
    return cls("m", response=response, body=body["error"])


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (400, None, False),
        (401, None, False),
        (403, None, False),
        (404, None, False),
        (422, None, False),
        (400, "context_length_exceeded", False),
        (429, "insufficient_quota", False),
        (429, "rate_limit_exceeded", True),
        (408, None, True),
        (409, None, True),
        (500, None, True),
        (503, None, True),
        (418, None, False),
    ],
)
def test_status_errors_are_classified(status: int, code: str | None, transient: bool) -> None:
    failure = classify(status_error(status, code))
    assert failure is not None
    assert (failure.transient, failure.status, failure.code) == (transient, status, code)
    assert failure.request_id == "req_1"


def test_connection_errors_and_bad_bodies_are_transient_and_bugs_are_not_caught() -> None:
    timeout = classify(openai.APITimeoutError(request=REQUEST))
    assert timeout is not None and timeout.transient and timeout.error_type == "APITimeoutError"
    try:
        json.loads("{")
    except json.JSONDecodeError as exc:
        bad = classify(exc)
    assert bad is not None and bad.transient and bad.error_type == "MalformedResponse"
    assert classify(TypeError("a bug")) is None


def test_backoff_is_exponential_with_full_jitter_and_a_cap() -> None:
    policy = RetryPolicy(backoff_base_s=0.25, backoff_factor=2, backoff_cap_s=1.0)
    for failures, ceiling in [(1, 0.25), (2, 0.5), (3, 1.0), (10, 1.0)]:
        waits = [policy.delay(failures) for _ in range(300)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8 and min(waits) < ceiling * 0.2, "spread over [0, cap]"
    assert policy.delay(1, retry_after=0.7) == 0.7
    assert policy.delay(1, retry_after=30) == 30, "the server's word, bounded by the deadline"


def test_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_factor=0.5)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=Clock())
    for ok in (False, False, True, False, False):
        assert breaker.allow("e")
        breaker.record("e", ok)
    assert breaker.state("e") == "closed", "a success in between resets the count"
    breaker.record("e", False)
    assert breaker.state("e") == "open" and not breaker.allow("e")
    assert breaker.state("other") == "closed" and breaker.allow("other")


def test_half_open_admits_exactly_one_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=10, clock=clock)
    breaker.record("e", False)
    clock.now = 9.9
    assert not breaker.allow("e") and breaker.retry_in("e") == pytest.approx(0.1)
    clock.now = 10.0
    assert breaker.state("e") == "half_open"
    assert breaker.allow("e") and not breaker.allow("e"), "one probe, the others fail fast"
    breaker.record("e", False)
    assert breaker.state("e") == "open", "a failed probe opens it for another cooldown"
    clock.now = 20.0
    assert breaker.allow("e")
    breaker.release("e")
    assert breaker.allow("e"), "a released probe (cancelled) can be taken again"
    breaker.record("e", True)
    assert breaker.state("e") == "closed" and breaker.allow("e") and breaker.allow("e")
