"""Which failures of a request are worth another attempt (the waits are `retry.RetryPolicy`'s)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import openai

__all__ = ["FATAL_CODES", "NEVER_RETRY_STATUS", "Failure", "MalformedResponseError", "classify"]

NEVER_RETRY_STATUS = frozenset({400, 401, 403, 404, 422})
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
