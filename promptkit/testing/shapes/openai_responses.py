"""The OpenAI Responses API shape (`POST /v1/responses`) of a fake reply.

A reply becomes a `response` object whose `output` holds a message item (an
`output_text` part, a `refusal` part or both) and one `function_call` item per tool
call. A `length` finish makes it `incomplete` with the reason `max_output_tokens`.
Streams are derived from that final object, so both always agree.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from promptkit.testing.replies import Reply, token_counts
from promptkit.testing.shapes.chat_completions import openai_error_body
from promptkit.testing.shapes.wire import Shape, SseEvent, bearer_token, pieces

__all__ = ["RESPONSES"]

_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
_PART_TEXT_FIELDS = {"output_text": "text", "refusal": "refusal"}
_ECHOED_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
}
"""Request settings the real API repeats in its response, with the values it assumes."""


def _usage(reply: Reply, request: Mapping[str, Any]) -> dict[str, Any]:
    counts = token_counts(reply, {key: request.get(key) for key in ("instructions", "input")})
    return {
        "input_tokens": counts.prompt,
        "input_tokens_details": {"cached_tokens": counts.cached},
        "output_tokens": counts.completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": counts.prompt + counts.completion,
    }


def _content_parts(reply: Reply) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = reply.content_text()
    if text is not None:
        parts.append({"type": "output_text", "text": text, "annotations": []})
    if reply.refusal is not None:
        parts.append({"type": "refusal", "refusal": reply.refusal})
    return parts


def _output(reply: Reply, number: int, status: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    parts = _content_parts(reply)
    if parts:
        message = {"type": "message", "id": f"msg_{number}", "status": status}
        items.append({**message, "role": "assistant", "content": parts})
    for i, call in enumerate(reply.tool_calls):
        ids = {"id": f"fc_{number}_{i}", "call_id": f"call_{i}"}
        arguments = {"name": call.name, "arguments": call.arguments_text()}
        items.append({"type": "function_call", **ids, **arguments, "status": "completed"})
    return items


def _response_body(reply: Reply, request: Mapping[str, Any], number: int) -> dict[str, Any]:
    """A `response` object as `POST /v1/responses` returns it."""
    reason = _INCOMPLETE_REASONS.get(reply.finish())
    status = "incomplete" if reason else "completed"
    return {
        "id": f"resp_{number}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": reply.model or request.get("model") or "fake-model",
        "output": _output(reply, number, status),
        "error": None,
        "incomplete_details": {"reason": reason} if reason else None,
        "usage": _usage(reply, request),
        **{key: request.get(key, default) for key, default in _ECHOED_DEFAULTS.items()},
    }


def _event(kind: str, *, counted: bool = False, **fields: Any) -> SseEvent:
    """An event named `kind`; `counted` marks the deltas that `stream_cut_after` counts."""
    return SseEvent({"type": kind, **fields}, event=kind, delta=counted)


def _part_events(part: dict[str, Any], where: dict[str, Any], size: int) -> list[SseEvent]:
    """One content part: added empty, its text in deltas, done with the whole text."""
    kind = part["type"]
    field = _PART_TEXT_FIELDS[kind]
    extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
    events = [_event("response.content_part.added", **where, part={**part, field: ""})]
    events += [
        _event(f"response.{kind}.delta", counted=True, **where, delta=piece, **extra)
        for piece in pieces(part[field], size)
    ]
    events.append(_event(f"response.{kind}.done", **where, **{field: part[field]}, **extra))
    events.append(_event("response.content_part.done", **where, part=part))
    return events


def _message_events(item: dict[str, Any], index: int, size: int) -> list[SseEvent]:
    added = {**item, "status": "in_progress", "content": []}
    events = [_event("response.output_item.added", output_index=index, item=added)]
    for content_index, part in enumerate(item["content"]):
        where = {"item_id": item["id"], "output_index": index, "content_index": content_index}
        events += _part_events(part, where, size)
    events.append(_event("response.output_item.done", output_index=index, item=item))
    return events


def _function_call_events(item: dict[str, Any], index: int, size: int) -> list[SseEvent]:
    added = {**item, "arguments": "", "status": "in_progress"}
    where = {"item_id": item["id"], "output_index": index}
    events = [_event("response.output_item.added", output_index=index, item=added)]
    events += [
        _event("response.function_call_arguments.delta", counted=True, **where, delta=piece)
        for piece in pieces(item["arguments"], size)
    ]
    whole = {"name": item["name"], "arguments": item["arguments"]}
    events.append(_event("response.function_call_arguments.done", **where, **whole))
    events.append(_event("response.output_item.done", output_index=index, item=item))
    return events


def _numbered(events: list[SseEvent]) -> list[SseEvent]:
    """Each event's `sequence_number`, counted from 0 as the real stream does."""
    return [
        SseEvent({**event.data, "sequence_number": n}, event.event, event.delta)
        for n, event in enumerate(events)
    ]


def _stream_events(reply: Reply, request: Mapping[str, Any], number: int) -> list[SseEvent]:
    """created, in_progress, each output item's events, then completed (or incomplete)."""
    final = _response_body(reply, request, number)
    opening = {**final, "status": "in_progress", "output": [], "usage": None}
    opening["incomplete_details"] = None
    events = [
        _event("response.created", response=opening),
        _event("response.in_progress", response=opening),
    ]
    for index, item in enumerate(final["output"]):
        build = _function_call_events if item["type"] == "function_call" else _message_events
        events += build(item, index, reply.chunk_size)
    events.append(_event(f"response.{final['status']}", response=final))
    return _numbered(events)


RESPONSES = Shape(
    protocol="responses",
    route="/responses",
    request_id_header="x-request-id",
    body=_response_body,
    error_body=openai_error_body,
    stream=_stream_events,
    credential=bearer_token,
)
"""The OpenAI Responses API: OpenAI's error shape and key, its own bodies and events."""
