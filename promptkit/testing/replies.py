"""Scripted answers of the fake server, independent of the protocol they are rendered in.

One `Reply` becomes an OpenAI chat completion, an OpenAI Responses API response or an
Anthropic message, depending on the route the client posted to (see `shapes/`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "TokenCounts", "ToolCallReply", "token_counts"]


@dataclass(frozen=True)
class ToolCallReply:
    """One tool call in a reply; `arguments` may be a JSON-able value or raw text."""

    name: str
    arguments: Any = field(default_factory=dict)

    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)

    def arguments_value(self) -> Any:
        """The arguments as a JSON value, for protocols that send them parsed (Anthropic's
        `input`); raw text that is not JSON stays text, as a model's broken output would."""
        if not isinstance(self.arguments, str):
            return self.arguments
        try:
            return json.loads(self.arguments)
        except ValueError:
            return self.arguments


@dataclass(frozen=True)
class Reply:
    """One answer of the fake server, from a normal completion to a fault.

    `content` may be text or a JSON-able value (sent as its JSON text); left None,
    a plain reply says "ok". Faults: `status` (with `retry_after` seconds and an
    error `error_code`/`error_type`), `reset` (the socket is cut mid-body), `hang`
    (no answer until the client gives up or the server stops), `malformed` (a 200
    whose body is not JSON), `stream_cut_after` (a stream that stops after N deltas,
    with no finish_reason and no [DONE] on chat, no `response.completed` on Responses,
    no `message_stop` on Anthropic; on chat every chunk counts as a delta).

    `usage` takes the chat names `prompt_tokens` (cached tokens included),
    `completion_tokens` and `cached_tokens` on every route; each protocol maps them to
    its own fields.
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


@dataclass(frozen=True)
class TokenCounts:
    """The token figures of one reply, in chat terms; `prompt` includes `cached`."""

    prompt: int
    completion: int
    cached: int


def token_counts(reply: Reply, prompt: Any) -> TokenCounts:
    """The reply's own numbers, or a rough count of characters / 4 of the prompt material
    (a JSON value: what the protocol sends as the prompt) and of the content."""
    given = dict(reply.usage or {})
    return TokenCounts(
        prompt=given.get("prompt_tokens", max(1, len(json.dumps(prompt)) // 4)),
        completion=given.get("completion_tokens", max(1, len(reply.content_text() or "") // 4)),
        cached=given.get("cached_tokens", 0),
    )
