"""Anthropic Messages (`provider = "anthropic"`): `POST /v1/messages` through the official
`anthropic` SDK (`pip install 'promptkit[anthropic]'`).

System messages become the `system` parameter; an assistant's tool calls become `tool_use`
blocks and their results `tool_result` blocks in the next user turn; offered tools go in
`tools` with `tool_choice: auto`. Structured output is a forced tool whose `input_schema`
is the schema (Anthropic's most widely available way to get JSON that matches a schema): a
`json_schema` or `json_object_schema` config is asked that way, a `json_object` one
through the prompt. `max_tokens` is required by the API: the config's, else 4096.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
from anthropic.resources.messages import AsyncMessages

from promptkit.core.failures import (
    Failure,
    MalformedResponseError,
    body_failure,
    connection_failure,
    status_failure,
)
from promptkit.core.providers.base import (
    Emit,
    PublicMethod,
    SdkOptions,
    content_text,
    sdk_arguments,
)
from promptkit.core.results import ProviderReply, ToolCall, Usage
from promptkit.core.streaming import StreamCutError, TextDelta, ToolCallDelta
from promptkit.core.structured import OutputPlan
from promptkit.core.types import Capability, Message, ModelConfig

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicMessages", "anthropic_messages"]

DEFAULT_MAX_TOKENS = 4096
"""The reply limit sent when neither the call nor the config sets one (the API needs one)."""

_CREATE = PublicMethod(AsyncMessages, "create")
"""Always called, so instrumentations that wrap it see every call (the direct-post path of
the OpenAI adapters is not worth its code here until a benchmark says so)."""
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
           "max_tokens": "length", "model_context_window_exceeded": "length",
           "tool_use": "tool_calls", "refusal": "content_filter"}
_TECHNIQUE: dict[str, Capability] = {"json_schema": "tool", "json_object_schema": "tool",
                                     "json_object": "prompt"}


class AnthropicMessages:
    """The Messages API through the `anthropic` SDK."""

    name = "anthropic"

    def client(self, config: ModelConfig, options: SdkOptions) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            api_key=options.api_key, base_url=options.base_url, timeout=options.timeout_s,
            max_retries=0, http_client=options.http_client,
            default_headers=dict(options.headers) or None,
            default_query=dict(options.query) or None,
        )  # fmt: skip

    def technique(self, capability: Capability) -> Capability:
        return _TECHNIQUE.get(capability, capability)

    def params(self, config: ModelConfig, plan: OutputPlan, temperature: float | None,
               max_tokens: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"model": config.model,
                                  "max_tokens": max_tokens or DEFAULT_MAX_TOKENS}
        if temperature is not None:
            params["temperature"] = temperature
        return {**params, **_tool_params(plan)}

    def payload(self, messages: list[Message]) -> dict[str, Any]:
        return anthropic_messages(messages)

    async def send(self, sdk: anthropic.AsyncAnthropic, config: ModelConfig,
                   body: dict[str, Any], *, emit: Emit | None) -> ProviderReply:
        known = sdk_arguments(body, _CREATE.parameters, _omitted(config))
        if emit is None:
            return _reply(await sdk.messages.create(**known))
        events = await sdk.messages.create(**known, stream=True)
        return await _read_stream(events, emit)

    def classify(self, exc: BaseException) -> Failure | None:
        if isinstance(exc, anthropic.APIStatusError):
            return status_failure(exc, exc.status_code, exc.message, _error_type(exc),
                                  exc.request_id)
        if isinstance(exc, anthropic.APIConnectionError):
            return connection_failure(exc, exc.message)
        return body_failure(exc)


def _tool_params(plan: OutputPlan) -> dict[str, Any]:
    """The offered tools (the model chooses: `auto`) and the output's own tool, forced
    when it is the only one."""
    tools = [_tool(t.name, t.parameters, t.description) for t in plan.tools]
    if plan.technique == "tool":
        tools.append(_tool(plan.name, plan.schema, plan.description))
    if not tools:
        return {}
    choice = {"type": "auto"} if plan.tools else {"type": "tool", "name": plan.name}
    return {"tools": tools, "tool_choice": choice}


def _tool(name: str, schema: Any, description: str) -> dict[str, Any]:
    tool = {"name": name, "input_schema": schema}
    if description:
        tool["description"] = description
    return tool


def _error_type(exc: anthropic.APIStatusError) -> str | None:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        kind = body["error"].get("type")
        return str(kind) if kind else None
    return None


def anthropic_messages(messages: list[Message]) -> dict[str, Any]:
    """Chat-shaped messages as the Messages API's `system` and `messages`."""
    system = [content_text(m.get("content")) for m in messages if m.get("role") in ("system",
                                                                             "developer")]
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            continue
        blocks = _blocks(message)
        speaker = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == speaker:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": speaker, "content": blocks})
    payload: dict[str, Any] = {"messages": turns}
    if system:
        payload["system"] = "\n\n".join(system)
    return payload


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.get("role") == "tool":
        return [{"type": "tool_result", "tool_use_id": message["tool_call_id"],
                 "content": content_text(message.get("content"))}]
    content = message.get("content")
    blocks = [_block(part) for part in content] if isinstance(content, list) else (
        [{"type": "text", "text": content}] if content else [])
    for call in message.get("tool_calls") or []:
        function = call["function"]
        blocks.append({"type": "tool_use", "id": call["id"], "name": function["name"],
                       "input": _arguments(function.get("arguments"))})
    return blocks


def _block(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("type") == "text":
        return {"type": "text", "text": part["text"]}
    if part.get("type") == "image_url":
        image = part["image_url"]
        url = image["url"] if isinstance(image, dict) else image
        if url.startswith("data:") and ";base64," in url:
            media, data = url[5:].split(";base64,", 1)
            return {"type": "image", "source": {"type": "base64", "media_type": media,
                                                "data": data}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    return part


def _arguments(text: Any) -> Any:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _reply(message: Any) -> ProviderReply:
    content = getattr(message, "content", None)
    if content is None:
        raise MalformedResponseError("the 200 body is not a message with content")
    texts = [block.text for block in content if block.type == "text"]
    calls = tuple(ToolCall(block.id, block.name, json.dumps(block.input))
                  for block in content if block.type == "tool_use")
    finish = _FINISH.get(message.stop_reason or "", message.stop_reason)
    text = "".join(texts) if texts or not calls else None
    return ProviderReply(
        text=text, tool_calls=calls, finish_reason=finish,
        refusal=(text or "refused") if message.stop_reason == "refusal" else None,
        usage=_usage(message.usage), response_id=message.id, model=message.model,
    )  # fmt: skip


def _usage(usage: Any) -> Usage | None:
    """Anthropic counts cached input apart: promptkit's input is all of it."""
    if usage is None:
        return None
    read = getattr(usage, "cache_read_input_tokens", 0) or 0
    written = getattr(usage, "cache_creation_input_tokens", 0) or 0
    return Usage(input_tokens=(usage.input_tokens or 0) + read + written,
                 output_tokens=usage.output_tokens or 0, cached_tokens=read)


@dataclass
class _Assembly:
    """The events of one streamed message, put back together."""

    events: int = 0
    emitted: bool = False
    head: Any = None
    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    stop_reason: str | None = None
    output_tokens: int = 0
    finished: bool = False

    def add(self, event: Any) -> TextDelta | ToolCallDelta | None:
        self.events += 1
        if event.type == "message_start":
            self.head = event.message
        elif event.type == "content_block_start":
            block = event.content_block
            self.blocks[event.index] = {"type": block.type, "parts": [],
                                        "id": getattr(block, "id", None),
                                        "name": getattr(block, "name", None)}
            if block.type == "tool_use":
                return ToolCallDelta(event.index, "", block.id, block.name)
        elif event.type == "content_block_delta":
            return self._delta(event)
        elif event.type == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self.output_tokens = event.usage.output_tokens or self.output_tokens
        elif event.type == "message_stop":
            self.finished = True
        return None

    def _delta(self, event: Any) -> TextDelta | ToolCallDelta | None:
        block = self.blocks.setdefault(event.index, {"type": "text", "parts": []})
        delta = event.delta
        if delta.type == "text_delta":
            block["parts"].append(delta.text)
            return TextDelta(delta.text)
        if delta.type == "input_json_delta":
            block["parts"].append(delta.partial_json)
            return ToolCallDelta(event.index, delta.partial_json)
        return None

    def partial(self) -> str | None:
        parts = ["".join(b["parts"]) for _, b in sorted(self.blocks.items())]
        return next((p for p in parts if p), None)

    def reply(self) -> ProviderReply:
        texts = ["".join(b["parts"]) for _, b in sorted(self.blocks.items())
                 if b["type"] == "text"]
        calls = tuple(ToolCall(b["id"] or f"toolu_{i}", b["name"] or "", "".join(b["parts"]))
                      for i, b in sorted(self.blocks.items()) if b["type"] == "tool_use")
        text = "".join(texts) if texts or not calls else None
        usage = _usage(self.head.usage) if self.head is not None else None
        if usage is not None:
            usage = Usage(usage.input_tokens, self.output_tokens, usage.cached_tokens)
        return ProviderReply(
            text=text, tool_calls=calls,
            finish_reason=_FINISH.get(self.stop_reason or "", self.stop_reason),
            refusal=(text or "refused") if self.stop_reason == "refusal" else None,
            usage=usage, response_id=getattr(self.head, "id", None),
            model=getattr(self.head, "model", None),
        )  # fmt: skip


async def _read_stream(events: AsyncIterator[Any], emit: Emit) -> ProviderReply:
    """Hand text and tool-input deltas on as they arrive; the assembled reply at the end.
    A stream that fails or ends before `message_stop` raises `StreamCutError`."""
    assembly = _Assembly()
    try:
        async for event in events:
            delta = assembly.add(event)
            if delta is not None:
                assembly.emitted = True
                emit(delta)
    except (anthropic.APIError, json.JSONDecodeError) as exc:
        raise StreamCutError(
            f"the stream failed after {assembly.events} event(s): {type(exc).__name__}: {exc}",
            emitted=assembly.emitted, partial=assembly.partial()) from exc
    if not assembly.finished or assembly.stop_reason is None:
        raise StreamCutError(f"the stream ended after {assembly.events} event(s) without "
                             f"message_stop", emitted=assembly.emitted,
                             partial=assembly.partial())
    return assembly.reply()


def _omitted(config: ModelConfig) -> dict[str, Any]:
    """With `api_key_header`, the key travels in that header only (Azure's `api-key`)."""
    if not config.api_key_header:
        return {}
    return {"Authorization": anthropic.omit, "X-Api-Key": anthropic.omit}
