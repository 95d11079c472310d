"""What a model call leaves behind: token usage, one record per attempt, and the call's result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from promptkit.core.types import Message, ModelConfig

__all__ = ["Attempt", "AttemptKind", "CallResult", "ProviderReply", "ToolCall", "Usage"]

AttemptKind = Literal["first", "retry", "reask", "fallback"]
"""Why a request was sent: the call's first, a retry after a transient failure, a re-ask
after invalid output, or the first request to a fallback config."""


@dataclass(frozen=True)
class Usage:
    """Tokens of one response, or summed over several."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
        )

    @classmethod
    def from_openai(cls, usage: Any) -> Usage:
        """Read an SDK `CompletionUsage` (or None) into a Usage."""
        if usage is None:
            return cls()
        details = getattr(usage, "prompt_tokens_details", None)
        cached = getattr(details, "cached_tokens", None) if details is not None else None
        return cls(
            input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            output_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cached_tokens=cached or 0,
        )


@dataclass(frozen=True)
class ToolCall:
    """One function call in a reply; `arguments` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ProviderReply:
    """One response of any provider's API, in promptkit's words: the finish reason in the
    Chat Completions vocabulary (`stop`, `length`, `tool_calls`, `content_filter`), and the
    provider's own id of the response."""

    text: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    refusal: str | None = None
    usage: Usage | None = None
    response_id: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One HTTP request of a call (or a config skipped because its circuit was open).

    `wait_s` is the time between the end of the previous attempt and the start of this
    one: for a `retry`, the retry policy's backoff or the server's Retry-After.
    `error_type` is None for an attempt whose output was accepted.
    """

    index: int
    config_name: str
    model: str
    kind: AttemptKind
    status: int | None = None
    error_type: str | None = None
    error: str | None = None
    error_code: str | None = None
    wait_s: float = 0.0
    duration_s: float = 0.0
    request_id: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def describe(self) -> str:
        """One line for error messages: `#2 retry main 500 InternalServerError: ...`."""
        status = self.status if self.status is not None else "-"
        outcome = f"{self.error_type}: {self.error}" if self.error_type else "ok"
        return f"#{self.index} {self.kind} {self.config_name} {status} {outcome}"


@dataclass(frozen=True)
class CallResult:
    """A successful call: the validated output and the evidence of how it was obtained.

    `output` is the parsed and validated JSON (the tool's arguments in tool mode) or the
    text. `usage` is the final response's; `total_usage` adds every attempt's, re-asks
    included. `request` holds the effective parameters of the last request (without
    messages); `messages` the messages it sent, re-asks included. `call_id` names the call
    in the call log; `first_token_s` is the time from the call's start to its first streamed
    token (None for a call that did not stream). `config` is the model config the answer
    came from (a fallback's, when one answered), and `cost_usd` the whole call's cost
    (`total_usage` at that config's prices, priced once, here), with `cost_source` saying
    where the prices came from (`config`, the price table, or `unknown`). `request_id` is
    the HTTP request's id (`x-request-id`), `response_id` the provider's id of the response
    (`chatcmpl-…`, `resp_…`, `msg_…`). `tool_calls` are the calls the reply made: with
    tools offered (`tools=`), a reply that calls one of them ends the call there, its
    `output` None, for the caller (or `run_tools`) to run them.
    """

    output: Any
    text: str | None
    finish_reason: str | None
    usage: Usage
    total_usage: Usage
    attempts: tuple[Attempt, ...]
    model: str
    config_name: str
    latency_s: float
    request_id: str | None
    request: Mapping[str, Any]
    messages: tuple[Message, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    call_id: str = ""
    first_token_s: float | None = None
    config: ModelConfig | None = None
    cost_usd: float = 0.0
    cost_source: str = "unknown"
    response_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
