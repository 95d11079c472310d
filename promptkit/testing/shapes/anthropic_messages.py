"""The Anthropic Messages shape (`POST /v1/messages`) of a fake reply.

Content becomes a `text` block, a refusal a `text` block with `stop_reason` "refusal",
each tool call a `tool_use` block. Finish reasons map stop→end_turn, length→max_tokens,
tool_calls→tool_use; others pass through, so a script may use Anthropic's own. Usage
maps the chat figures: `input_tokens` excludes the cached tokens, which Anthropic counts
apart as `cache_read_input_tokens`. Streams are derived from the final message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from promptkit.testing.replies import Reply, token_counts
from promptkit.testing.shapes.wire import Shape, SseEvent, bearer_token, pieces, request_id

__all__ = ["ANTHROPIC"]

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _error_body(reply: Reply, number: int) -> dict[str, Any]:
    """Anthropic's error envelope; an `error_code` goes where the SDK reads it
    (`error.details.error_code`)."""
    fallback = "api_error" if reply.status >= 500 else "invalid_request_error"
    error: dict[str, Any] = {
        "type": reply.error_type or _ERROR_TYPES.get(reply.status, fallback),
        "message": reply.error_message or f"fake server error {reply.status}",
    }
    if reply.error_code is not None:
        error["details"] = {"error_code": reply.error_code}
    return {"type": "error", "error": error, "request_id": request_id(number)}


def _stop_reason(reply: Reply) -> str:
    if reply.refusal is not None and reply.finish_reason is None:
        return "refusal"
    finish = reply.finish()
    return _STOP_REASONS.get(finish, finish)


def _content(reply: Reply, number: int) -> list[dict[str, Any]]:
    texts = [reply.content_text(), reply.refusal]
    blocks = [{"type": "text", "text": text} for text in texts if text is not None]
    for i, call in enumerate(reply.tool_calls):
        block = {"type": "tool_use", "id": f"toolu_{number}_{i}", "name": call.name}
        blocks.append({**block, "input": call.arguments_value()})
    return blocks


def _usage(reply: Reply, request: Mapping[str, Any]) -> dict[str, Any]:
    counts = token_counts(reply, {key: request.get(key) for key in ("system", "messages")})
    return {
        "input_tokens": max(0, counts.prompt - counts.cached),
        "output_tokens": counts.completion,
        "cache_read_input_tokens": counts.cached,
        "cache_creation_input_tokens": 0,
    }


def _message_body(reply: Reply, request: Mapping[str, Any], number: int) -> dict[str, Any]:
    """A `message` object as `POST /v1/messages` returns it."""
    return {
        "id": f"msg_{number}",
        "type": "message",
        "role": "assistant",
        "model": reply.model or request.get("model") or "fake-model",
        "content": _content(reply, number),
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": _usage(reply, request),
    }


def _event(kind: str, *, counted: bool = False, **fields: Any) -> SseEvent:
    """An event named `kind`; `counted` marks the deltas that `stream_cut_after` counts."""
    return SseEvent({"type": kind, **fields}, event=kind, delta=counted)


def _block_events(block: dict[str, Any], index: int, size: int) -> list[SseEvent]:
    """One content block: started empty, its text or its input JSON in deltas, stopped."""
    if block["type"] == "text":
        start = {**block, "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces(block["text"], size)]
    else:
        start = {**block, "input": {}}
        given = block["input"]
        partial = given if isinstance(given, str) else json.dumps(given)  # broken JSON stays so
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces(partial, size)]
    return [
        _event("content_block_start", index=index, content_block=start),
        *(_event("content_block_delta", counted=True, index=index, delta=d) for d in deltas),
        _event("content_block_stop", index=index),
    ]


def _stream_events(reply: Reply, request: Mapping[str, Any], number: int) -> list[SseEvent]:
    """message_start, each block's events (a ping after the first start), message_delta
    with the stop reason and output tokens, message_stop."""
    final = _message_body(reply, request, number)
    usage = final["usage"]
    opening = {**final, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 0}}
    blocks = [
        event
        for index, block in enumerate(final["content"])
        for event in _block_events(block, index, reply.chunk_size)
    ]
    stop = {"stop_reason": final["stop_reason"], "stop_sequence": None}
    return [
        _event("message_start", message=opening),
        *blocks[:1],
        _event("ping"),
        *blocks[1:],
        _event("message_delta", delta=stop, usage={"output_tokens": usage["output_tokens"]}),
        _event("message_stop"),
    ]


def _api_key(headers: Mapping[str, str]) -> str | None:
    """`x-api-key` as the SDK sends an API key, or a Bearer token (its `auth_token`)."""
    return headers.get("x-api-key") or bearer_token(headers)


ANTHROPIC = Shape(
    protocol="anthropic",
    route="/v1/messages",
    request_id_header="request-id",
    body=_message_body,
    error_body=_error_body,
    stream=_stream_events,
    credential=_api_key,
)
"""Anthropic Messages: its own bodies, error envelope, events, key header and request id."""
