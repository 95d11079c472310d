"""Recorded responses: which HTTP answers may be recorded, their stored form, and replaying them.

A JSON answer is stored as its parsed body; a server-sent-event stream as the list of its
events (``{"data": ...}``, with ``"event"`` when named), JSON payloads parsed so they read
and diff well. Only a complete success is recorded: a 2xx whose JSON parses and holds no
``error``, or a stream that reached its end (``[DONE]``, ``response.completed`` or
``message_stop``) with no error event. Everything else is a failure and is never written.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2

from promptkit.redact import Scrubber

__all__ = ["REPLAY_HEADER", "decode_events", "encode_events", "recordable", "replay_response"]

REPLAY_HEADER = "x-promptkit-replay"
"""Set on every replayed response to the key of the recording it came from."""

_STREAM_ENDS = frozenset({"response.completed", "response.incomplete", "message_stop"})
"""The last event of a complete stream: OpenAI Responses (completed, or cut at its token
limit, which a call reports as truncation) and Anthropic Messages; Chat ends with [DONE]."""
_STREAM_ERRORS = frozenset({"error", "response.failed"})


def recordable(
    status: int, content_type: str, body: bytes, scrubber: Scrubber
) -> dict[str, Any] | None:
    """The stored form of a complete successful response, or None if it must not be recorded."""
    if not 200 <= status < 300:
        return None
    if "text/event-stream" in content_type:
        events = decode_events(body)
        if not _complete(events) or any(_is_error(e) for e in events):
            return None
        return {"events": scrubber.data(events), "status": status}
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("error"):
        return None
    return {"body": data if scrubber.clean(body) else scrubber.data(data), "status": status}


def replay_response(recorded: dict[str, Any], key: str) -> httpx2.Response:
    """An httpx2 response carrying a recording, as the endpoint sent it (minus its headers)."""
    headers = {REPLAY_HEADER: key}
    if "events" in recorded:
        headers["content-type"] = "text/event-stream"
        content = encode_events(recorded["events"])
    else:
        headers["content-type"] = "application/json"
        body = recorded.get("body")
        content = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
    return httpx2.Response(recorded["status"], headers=headers, content=content)


def decode_events(body: bytes) -> list[dict[str, Any]]:
    """The events of an SSE body: data lines joined, JSON objects and arrays parsed."""
    text = body.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    events = []
    for block in text.split("\n\n"):
        data: list[str] = []
        name = None
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value
        if data or name:
            event: dict[str, Any] = {"data": _payload("\n".join(data))}
            if name:
                event["event"] = name
            events.append(event)
    return events


def encode_events(events: list[dict[str, Any]]) -> bytes:
    """The SSE body of recorded events, as a server sends them."""
    parts = []
    for event in events:
        lines = [f"event: {event['event']}"] if event.get("event") else []
        data = event.get("data")
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        lines += [f"data: {line}" for line in text.split("\n")]
        parts.append("\n".join(lines) + "\n\n")
    return "".join(parts).encode("utf-8")


def _payload(text: str) -> Any:
    if text[:1] in ("{", "["):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict | list):
            return value
    return text


def _complete(events: list[dict[str, Any]]) -> bool:
    if not events:
        return False
    last = events[-1]
    data = last.get("data")
    kind = data.get("type") if isinstance(data, dict) else None
    return data == "[DONE]" or last.get("event") in _STREAM_ENDS or kind in _STREAM_ENDS


def _is_error(event: dict[str, Any]) -> bool:
    data = event.get("data")
    if not isinstance(data, dict):
        return event.get("event") in _STREAM_ERRORS
    return bool(data.get("error")) or (event.get("event") or data.get("type")) in _STREAM_ERRORS
