"""The OpenAI chat completions shape (`POST /v1/chat/completions`) of a fake reply."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from promptkit.testing.replies import Reply, token_counts
from promptkit.testing.shapes.wire import Shape, SseEvent, bearer_token, pieces

__all__ = ["CHAT", "openai_error_body"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_error_body(reply: Reply, number: int) -> dict[str, Any]:
    """The error object of a non-200 reply, shaped like OpenAI's (chat and Responses alike)."""
    return {
        "error": {
            "message": reply.error_message or f"fake server error {reply.status}",
            "type": reply.error_type or _ERROR_TYPES.get(reply.status, "api_error"),
            "param": None,
            "code": reply.error_code,
        }
    }


def _usage(reply: Reply, request: Mapping[str, Any]) -> dict[str, Any]:
    counts = token_counts(reply, request.get("messages", []))
    return {
        "prompt_tokens": counts.prompt,
        "completion_tokens": counts.completion,
        "total_tokens": counts.prompt + counts.completion,
        "prompt_tokens_details": {"cached_tokens": counts.cached},
    }


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_text()},
        }
        for i, call in enumerate(reply.tool_calls)
    ]


def _envelope(reply: Reply, request: Mapping[str, Any], number: int, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{number}",
        "object": kind,
        "created": int(time.time()),
        "model": reply.model or request.get("model") or "fake-model",
    }


def _completion_body(reply: Reply, request: Mapping[str, Any], number: int) -> dict[str, Any]:
    """A chat.completion object as the OpenAI API returns it."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.content_text(),
        "refusal": reply.refusal,
    }
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
    choice = {"index": 0, "message": message, "finish_reason": reply.finish(), "logprobs": None}
    return {
        **_envelope(reply, request, number, "chat.completion"),
        "choices": [choice],
        "usage": _usage(reply, request),
    }


def _deltas(reply: Reply) -> list[dict[str, Any]]:
    """The `delta` of each chunk: role, text pieces, refusal, tool calls, then the finish."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": piece} for piece in pieces(reply.content_text() or "", reply.chunk_size)]
    if reply.refusal is not None:
        deltas.append({"refusal": reply.refusal})
    for i, call in enumerate(_tool_calls(reply)):
        head = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        deltas.append({"tool_calls": [{"index": i, **head}]})
        for piece in pieces(call["function"]["arguments"], reply.chunk_size):
            deltas.append({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    return deltas


def _stream_events(reply: Reply, request: Mapping[str, Any], number: int) -> list[SseEvent]:
    """The chunks of a streamed completion (every one a delta), the usage chunk when
    `stream_options.include_usage` asks for it, and [DONE]."""
    base = _envelope(reply, request, number, "chat.completion.chunk")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> SseEvent:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return SseEvent({**base, "choices": [choice]}, delta=True)

    events = [chunk(delta) for delta in _deltas(reply)]
    events.append(chunk({}, reply.finish()))
    if (request.get("stream_options") or {}).get("include_usage"):
        events.append(SseEvent({**base, "choices": [], "usage": _usage(reply, request)}))
    events.append(SseEvent("[DONE]"))
    return events


CHAT = Shape(
    protocol="chat",
    route="/chat/completions",
    request_id_header="x-request-id",
    body=_completion_body,
    error_body=openai_error_body,
    stream=_stream_events,
    credential=bearer_token,
)
"""OpenAI chat completions, the shape of every route that is not another protocol's."""
