"""Seeing every HTTP request of a call and writing it to the call's log as one attempt.

promptkit hands the SDK an `httpx2.AsyncClient` whose `send` records each request into the
`AttemptLog` of the call running in the current context (a contextvar), so concurrent calls
never mix their logs. It records what a request said (status, error, `Retry-After`) below
the SDK, which turns a response into an exception and drops the rest. The SDK itself never
retries (`max_retries=0`): one request is one attempt of the attempt loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx2
import openai

from promptkit.core.results import Attempt, AttemptKind, Usage

__all__ = ["CURRENT_LOG", "AttemptLog", "RecordingAsyncClient", "recorded_answer"]

_STATUS_ERRORS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
}


class AttemptLog:
    """The attempts of one call: opened by the transport, amended by the attempt loop."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.config_name = ""
        self.model = ""
        self.next_kind: AttemptKind = "first"
        self.retry_after: float | None = None
        self.spent = Usage()
        self._last_end: float | None = None

    def target(self, config_name: str, model: str, kind: AttemptKind) -> None:
        """Name the config, model and reason of the next request."""
        self.config_name, self.model, self.next_kind = config_name, model, kind

    def add(self, start: float, end: float, **fields: Any) -> None:
        wait = 0.0 if self._last_end is None else max(0.0, start - self._last_end)
        attempt = Attempt(
            index=len(self.attempts),
            config_name=self.config_name,
            model=self.model,
            kind=self.next_kind,
            wait_s=wait,
            duration_s=end - start,
            **fields,
        )
        self.attempts.append(attempt)
        self._last_end = end

    def skip(self, error_type: str, error: str) -> None:
        """Record a config that was not tried (its circuit is open)."""
        now = time.monotonic()
        last_end = self._last_end
        self.add(now, now, error_type=error_type, error=error)
        self._last_end = last_end

    def amend_last(self, **changes: Any) -> None:
        if self.attempts:
            self.attempts[-1] = replace(self.attempts[-1], **changes)

    def add_usage(self, usage: Usage) -> None:
        self.spent = self.spent + usage


CURRENT_LOG: contextvars.ContextVar[AttemptLog | None] = contextvars.ContextVar(
    "promptkit_attempt_log", default=None
)


class RecordingAsyncClient(httpx2.AsyncClient):
    """An httpx2 client with the SDK's defaults that records each send into `CURRENT_LOG`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", openai.DEFAULT_TIMEOUT)
        kwargs.setdefault("limits", openai.DEFAULT_CONNECTION_LIMITS)
        kwargs.setdefault("follow_redirects", True)
        self._recorded: RecordedJson | None = getattr(kwargs.get("transport"), "recorded_json",
                                                      None)
        super().__init__(**kwargs)

    def replayed(self, method: str, path: str, body: dict[str, Any]) -> Any | None:
        """The recorded JSON answer to a request, when the transport is a replay that holds
        one; logged as an attempt like a request the transport answered."""
        if self._recorded is None:
            return None
        start = time.monotonic()
        answer = self._recorded(method, path, body)
        log = CURRENT_LOG.get()
        if answer is not None and log is not None:
            log.retry_after = None
            log.add(start, time.monotonic(), status=200, request_id=None)
        return answer

    async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        log = CURRENT_LOG.get()
        if log is None:
            return await super().send(request, **kwargs)
        start = time.monotonic()
        try:
            response = await super().send(request, **kwargs)
        except BaseException as exc:
            log.retry_after = None
            detail = str(exc) or "no detail"
            log.add(start, time.monotonic(), error_type=_exception_name(exc), error=detail)
            raise
        fields = await _response_fields(response)
        log.retry_after = _retry_after(response.headers)
        log.add(start, time.monotonic(), **fields)
        return response


RecordedJson = Callable[[str, str, dict[str, Any]], Any]
"""What a replaying transport offers (`ReplayTransport.recorded_json`): the recorded answer
to (method, URL path, JSON body), or None."""


def recorded_answer(sdk: Any, path: str, body: dict[str, Any]) -> Any | None:
    """The recorded JSON answer to POSTing `body` to `path` through `sdk`, when its HTTP
    client replays one: what the SDK would have parsed, without building the request,
    sending it through httpx2 and reading it back (most of a replayed call's cost).

    Only for an SDK whose requests carry no query string (the key then depends on the path
    and body alone); anything else, and every miss, takes the HTTP path, which reports it
    as before."""
    http = getattr(sdk, "_client", None)  # the SDK's httpx2 client (`http_client=`)
    if not isinstance(http, RecordingAsyncClient) or sdk.default_query:
        return None
    base = sdk.base_url  # a property that builds the URL each time
    if base.query:
        return None
    return http.replayed("POST", base.path.rstrip("/") + path, body)


def _exception_name(exc: BaseException) -> str:
    return "Cancelled" if isinstance(exc, asyncio.CancelledError) else type(exc).__name__


async def _response_fields(response: httpx2.Response) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": response.status_code,
        "request_id": response.headers.get("x-request-id") or response.headers.get("request-id"),
    }
    if response.status_code < 400:
        return fields
    await response.aread()
    error = _error_object(response)
    code = error.get("code")
    fields["error_code"] = str(code) if code is not None else None
    fields["error"] = str(error.get("message") or response.reason_phrase)
    fields["error_type"] = _STATUS_ERRORS.get(
        response.status_code,
        "InternalServerError" if response.status_code >= 500 else "APIStatusError",
    )
    return fields


def _error_object(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return body if isinstance(body, dict) else {}


def _retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds the server asked to wait (retry-after-ms, then retry-after), if any."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None
