"""Scripted answers of the fake server, and the OpenAI-shaped bodies built from them."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "ToolCallReply"]


@dataclass(frozen=True)
class ToolCallReply:
    """One tool call in a reply; `arguments` may be a JSON-able value or raw text."""

    name: str
    arguments: Any = field(default_factory=dict)

    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """One answer of the fake server, from a normal completion to a fault.

    `content` may be text or a JSON-able value (sent as its JSON text); left None,
    a plain reply says "ok". Faults: `status` (with `retry_after` seconds and an
    error `error_code`/`error_type`), `reset` (the socket is cut mid-body), `hang`
    (no answer until the client gives up or the server stops), `malformed` (a 200
    whose body is not JSON), `stream_cut_after` (a stream that stops after N chunks
    with no finish_reason and no [DONE]).
    """

    content: Any = None
    tool_calls: Sequence[ToolCallReply] = ()
    refusal: str | None = None
    finish_reason: str | None = None
    usage: Mapping[str, int] | None = None
    model: str | None = None
    latency: float = 0.0
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    error_code: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    reset: bool = False
    hang: bool = False
    malformed: bool = False
    stream_cut_after: int | None = None
    chunk_size: int = 16
    chunk_delay: float = 0.0

    def content_text(self) -> str | None:
        if self.content is None:
            return None if self.tool_calls or self.refusal is not None else "ok"
        return self.content if isinstance(self.content, str) else json.dumps(self.content)

    def finish(self) -> str:
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers.setdefault("retry-after", _number(self.retry_after))
        return headers


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def usage_body(reply: Reply, request: Mapping[str, Any]) -> dict[str, Any]:
    """The usage block: the reply's own numbers, or a rough count of characters / 4."""
    given = dict(reply.usage or {})
    prompt = given.get("prompt_tokens", max(1, len(json.dumps(request.get("messages", []))) // 4))
    completion = given.get("completion_tokens", max(1, len(reply.content_text() or "") // 4))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": given.get("cached_tokens", 0)},
    }


def tool_calls_body(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_text()},
        }
        for i, call in enumerate(reply.tool_calls)
    ]


def completion_body(reply: Reply, request: Mapping[str, Any], number: int) -> dict[str, Any]:
    """A chat.completion object as the OpenAI API returns it."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.content_text(),
        "refusal": reply.refusal,
    }
    if reply.tool_calls:
        message["tool_calls"] = tool_calls_body(reply)
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model or request.get("model") or "fake-model",
        "choices": [
            {"index": 0, "message": message, "finish_reason": reply.finish(), "logprobs": None}
        ],
        "usage": usage_body(reply, request),
    }


def error_body(reply: Reply) -> dict[str, Any]:
    """The error object of a non-200 reply, shaped like OpenAI's."""
    kind = reply.error_type or ("rate_limit_error" if reply.status == 429 else "api_error")
    return {
        "error": {
            "message": reply.error_message or f"fake server error {reply.status}",
            "type": kind,
            "param": None,
            "code": reply.error_code,
        }
    }


def stream_chunks(reply: Reply, request: Mapping[str, Any], number: int) -> list[dict[str, Any]]:
    """The chunks of a streamed completion, before any usage chunk and [DONE]."""
    base = {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": reply.model or request.get("model") or "fake-model",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    text = reply.content_text() or ""
    size = max(1, reply.chunk_size)
    chunks += [chunk({"content": text[i : i + size]}) for i in range(0, len(text), size)]
    if reply.refusal is not None:
        chunks.append(chunk({"refusal": reply.refusal}))
    for i, call in enumerate(tool_calls_body(reply)):
        head = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        chunks.append(chunk({"tool_calls": [{"index": i, **head}]}))
        args = call["function"]["arguments"]
        for j in range(0, len(args), size):
            piece = {"index": i, "function": {"arguments": args[j : j + size]}}
            chunks.append(chunk({"tool_calls": [piece]}))
    chunks.append(chunk({}, reply.finish()))
    return chunks


def usage_chunk(reply: Reply, request: Mapping[str, Any], number: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": reply.model or request.get("model") or "fake-model",
        "choices": [],
        "usage": usage_body(reply, request),
    }
