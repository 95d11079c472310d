"""Which failures are worth another attempt, and how long promptkit waits before it."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import openai

__all__ = ["FATAL_CODES", "NEVER_RETRY_STATUS", "Failure", "RetryPolicy", "classify"]

NEVER_RETRY_STATUS = frozenset({400, 401, 403, 404, 422})
"""Statuses no attempt can fix: retried neither by the SDK nor by promptkit."""

FATAL_CODES = frozenset({"context_length_exceeded", "insufficient_quota"})
"""Error codes no attempt can fix, whatever their status (quota comes as a 429)."""


@dataclass(frozen=True)
class RetryPolicy:
    """promptkit's own attempts per model config, on top of the SDK's HTTP retries.

    Each attempt is one SDK call, which itself retries 408/409/429/5xx and connection
    errors `ModelConfig.max_retries` times. promptkit adds attempts for what is still
    transient when the SDK gives up (and for malformed 200 bodies, which the SDK never
    retries), waiting with exponential backoff and full jitter:
    `uniform(0, min(backoff_cap_s, backoff_base_s * backoff_factor ** n))`, or exactly
    the server's Retry-After when it sent one (the call's deadline still bounds it).
    """

    max_attempts: int = 3
    backoff_base_s: float = 0.25
    backoff_factor: float = 2.0
    backoff_cap_s: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base_s < 0 or self.backoff_cap_s < 0 or self.backoff_factor < 1:
            raise ValueError("backoff must be non-negative with a factor of at least 1")

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """The wait before the next attempt, after `failures` (>= 1) failed ones."""
        if retry_after is not None and retry_after >= 0:
            return retry_after
        grown = self.backoff_base_s * self.backoff_factor ** (failures - 1)
        ceiling = min(self.backoff_cap_s, grown)
        return random.uniform(0, ceiling)


@dataclass(frozen=True)
class Failure:
    """An exception of one SDK call, classified."""

    transient: bool
    error_type: str
    message: str
    status: int | None = None
    code: str | None = None
    request_id: str | None = None


class MalformedResponseError(Exception):
    """A 200 whose body is not a chat completion (not JSON, or no choices)."""


def classify(exc: BaseException) -> Failure | None:
    """Transient or fatal for an SDK or body error; None for anything else (a bug: re-raise)."""
    if isinstance(exc, openai.APIStatusError):
        code = error_code(exc)
        transient = (
            exc.status_code not in NEVER_RETRY_STATUS
            and code not in FATAL_CODES
            and (exc.status_code in (408, 409, 429) or exc.status_code >= 500)
        )
        return Failure(
            transient, type(exc).__name__, exc.message, exc.status_code, code, exc.request_id
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f"{exc.message} ({type(cause).__name__})" if cause is not None else exc.message
        return Failure(True, type(exc).__name__, detail)
    if isinstance(exc, json.JSONDecodeError | MalformedResponseError):
        return Failure(True, "MalformedResponse", f"{type(exc).__name__}: {exc}")
    return None


def error_code(exc: openai.APIStatusError) -> str | None:
    """The `code` of an error body, whether the SDK unwrapped `{"error": {...}}` or not."""
    if exc.code:
        return exc.code
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return str(code) if code is not None else None
    return None
