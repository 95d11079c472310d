"""Server-sent events from a streamed call: `text/event-stream` frames for WSGI and ASGI apps.

Each event is one frame, its data one line of JSON:

    event: delta       data: {"text": "Hel", "attempt": 0}
    event: tool_call   data: {"index": 0, "id": "call_0", "name": "f", "arguments": "{\\"a", ...}
    event: restart     data: {"attempt": 2, "reason": "reask", "errors": [...]}
    event: done        data: {"call_id": ..., "output": ..., "usage": {...}, ...}   (last)
    event: error       data: {"type": "TruncatedOutputError", "message": "..."}      (last)

Flask:      Response(sse_stream(client.stream(messages)), headers=dict(SSE_HEADERS))
Starlette:  StreamingResponse(asse_stream(aclient.stream(messages)),
                              media_type="text/event-stream", headers=...)
plain WSGI: return wsgi_sse(start_response, client.stream(messages))
plain ASGI: await asgi_sse(send, aclient.stream(messages))

An error that is not promptkit's is sent as type "InternalError" without its message (it may
hold internals) and logged on the `promptkit.sse` logger.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from promptkit.core.results import CallResult
from promptkit.core.streaming import Restart, StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from promptkit.errors import PromptkitError

__all__ = [
    "SSE_HEADERS",
    "asgi_sse",
    "asse_stream",
    "error_frame",
    "event_frame",
    "frame",
    "result_summary",
    "sse_stream",
    "wsgi_sse",
]

SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
)
"""Response headers of an event stream (the last one stops nginx from buffering it)."""

_log = logging.getLogger("promptkit.sse")

StartResponse = Callable[..., Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def frame(event: str, data: Any) -> bytes:
    """One server-sent event: its name and its data as one line of JSON."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"event: {event}\ndata: {payload}\n\n".encode()


def result_summary(result: CallResult) -> dict[str, Any]:
    """What the `done` event tells the browser about the call."""
    usage = result.total_usage
    return {
        "call_id": result.call_id,
        "output": result.output,
        "finish_reason": result.finish_reason,
        "model": result.model,
        "config": result.config_name,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cached_tokens": usage.cached_tokens,
        },
        "latency_s": round(result.latency_s, 4),
        "first_token_s": None if result.first_token_s is None else round(result.first_token_s, 4),
        "attempts": len(result.attempts),
        "request_id": result.request_id,
    }


def event_frame(event: StreamEvent) -> bytes:
    """The frame of one stream event."""
    if isinstance(event, TextDelta):
        return frame("delta", {"text": event.text, "attempt": event.attempt})
    if isinstance(event, ToolCallDelta):
        data = {"index": event.index, "id": event.id, "name": event.name,
                "arguments": event.arguments, "attempt": event.attempt}  # fmt: skip
        return frame("tool_call", data)
    if isinstance(event, Restart):
        return frame(
            "restart",
            {"attempt": event.attempt, "reason": event.reason, "errors": list(event.errors)},
        )
    if isinstance(event, StreamEnd):
        return frame("done", result_summary(event.result))
    raise TypeError(f"not a stream event: {event!r}")


def error_frame(error: BaseException) -> bytes:
    """The frame that ends a failed stream."""
    if isinstance(error, PromptkitError):
        return frame("error", {"type": type(error).__name__, "message": str(error)})
    _log.error("a streamed call failed", exc_info=error)
    return frame("error", {"type": "InternalError", "message": "the server failed"})


def sse_stream(events: Iterable[StreamEvent]) -> Iterator[bytes]:
    """Frames of a sync stream (WSGI, Flask), ending with `done` or `error`."""
    try:
        for event in events:
            yield event_frame(event)
    except Exception as error:
        yield error_frame(error)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # a client that went away: cancel the call


async def asse_stream(events: AsyncIterable[StreamEvent]) -> AsyncIterator[bytes]:
    """Frames of an async stream (ASGI, Starlette), ending with `done` or `error`."""
    try:
        async for event in events:
            yield event_frame(event)
    except Exception as error:
        yield error_frame(error)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()  # a client that went away: cancel the call


def wsgi_sse(start_response: StartResponse, events: Iterable[StreamEvent]) -> Iterator[bytes]:
    """A WSGI response body streaming `events` (call from a WSGI app and return it).

    When the client goes away the server closes the body, which cancels the call."""
    start_response("200 OK", list(SSE_HEADERS))
    return sse_stream(events)


async def asgi_sse(send: Send, events: AsyncIterable[StreamEvent]) -> None:
    """Send `events` as the whole response of an ASGI HTTP request."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SSE_HEADERS]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    async for chunk in asse_stream(events):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
