"""Which failures of a request are worth another attempt (the waits are `retry.RetryPolicy`'s).

One rule for every provider (`status_failure`): 408, 409, 429 and 5xx are transient, other
statuses and the error codes no attempt can fix are not. Each adapter reads its SDK's
exceptions into it; `classify` is the OpenAI SDK's reading."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai

__all__ = [
    "FATAL_CODES",
    "NEVER_RETRY_STATUS",
    "Failure",
    "MalformedResponseError",
    "body_failure",
    "classify",
    "connection_failure",
    "status_failure",
]

NEVER_RETRY_STATUS = frozenset({400, 401, 403, 404, 413, 422})
"""Statuses no attempt can fix: never retried."""

FATAL_CODES = frozenset({"context_length_exceeded", "insufficient_quota"})
"""Error codes no attempt can fix, whatever their status (quota comes as a 429)."""


@dataclass(frozen=True)
class Failure:
    """An exception of one request (one SDK call), classified."""

    transient: bool
    error_type: str
    message: str
    status: int | None = None
    code: str | None = None
    request_id: str | None = None


class MalformedResponseError(Exception):
    """A 200 whose body is not a response of its API (not JSON, or nothing in it)."""


def status_failure(exc: BaseException, status: int, message: str, code: str | None,
                   request_id: str | None) -> Failure:
    """An HTTP error status, classified by the one rule."""
    transient = (
        status not in NEVER_RETRY_STATUS
        and code not in FATAL_CODES
        and (status in (408, 409, 429) or status >= 500)
    )
    return Failure(transient, type(exc).__name__, message, status, code, request_id)


def connection_failure(exc: BaseException, message: str) -> Failure:
    """A request that got no response (refused, reset, timed out): always transient."""
    cause = exc.__cause__
    detail = f"{message} ({type(cause).__name__})" if cause is not None else message
    return Failure(True, type(exc).__name__, detail)


def body_failure(exc: BaseException) -> Failure | None:
    """A 200 whose body could not be read: transient (the next answer may be whole)."""
    if isinstance(exc, json.JSONDecodeError | MalformedResponseError):
        return Failure(True, "MalformedResponse", f"{type(exc).__name__}: {exc}")
    return None


def classify(exc: BaseException) -> Failure | None:
    """Transient or fatal for an OpenAI SDK or body error; None for anything else (a bug)."""
    if isinstance(exc, openai.APIStatusError):
        return status_failure(exc, exc.status_code, exc.message, error_code(exc),
                              exc.request_id)
    if isinstance(exc, openai.APIConnectionError):
        return connection_failure(exc, exc.message)
    return body_failure(exc)


def error_code(exc: Any) -> str | None:
    """The `code` of an error body, whether the SDK unwrapped `{"error": {...}}` or not."""
    if getattr(exc, "code", None):
        return str(exc.code)
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return str(code) if code is not None else None
    return None
