"""The OpenAI Responses API (`provider = "openai-responses"`): `POST /responses` through the
`openai` SDK (posted directly, or through `responses.create` when an instrumentation wrapped
it; see `base.PublicMethod`).

Messages become `input` items (a tool call and its result become `function_call` and
`function_call_output` items); a schema goes in `text.format`, a forced tool in `tools`
with `tool_choice`, offered tools in `tools` with `tool_choice: auto`. Responses are not
stored at OpenAI (`store: false`) unless a call asks (`extra={"store": True}`): promptkit
keeps its own log.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.resources.responses import AsyncResponses
from openai.types.responses import Response, ResponseStreamEvent

from promptkit.core.failures import Failure, MalformedResponseError, classify
from promptkit.core.providers.base import (
    Emit,
    PublicMethod,
    SdkOptions,
    content_text,
)
from promptkit.core.providers.openai_chat import OpenAIChat, Route, send_openai
from promptkit.core.results import ProviderReply, ToolCall, Usage
from promptkit.core.streaming import StreamCutError, TextDelta, ToolCallDelta
from promptkit.core.structured import OutputPlan, is_strict_compatible
from promptkit.core.types import Capability, Message, ModelConfig

__all__ = ["OpenAIResponses", "input_items"]

_ROUTE = Route(PublicMethod(AsyncResponses, "create"), "/responses", Response,
               openai.AsyncStream[ResponseStreamEvent], "responses")
_END_EVENTS = frozenset({"response.completed", "response.incomplete"})


class OpenAIResponses:
    """The Responses API through the `openai` SDK."""

    name = "openai"

    def client(self, config: ModelConfig, options: SdkOptions) -> openai.AsyncOpenAI:
        return OpenAIChat().client(config, options)

    def technique(self, capability: Capability) -> Capability:
        return "json_object" if capability == "json_object_schema" else capability

    def params(self, config: ModelConfig, plan: OutputPlan, temperature: float | None,
               max_tokens: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"model": config.model, "store": False}
        if temperature is not None:
            params["temperature"] = temperature
        if max_tokens is not None:
            params["max_output_tokens"] = max_tokens
        return {**params, **_output_params(plan)}

    def payload(self, messages: list[Message]) -> dict[str, Any]:
        return {"input": input_items(messages)}

    async def send(self, sdk: openai.AsyncOpenAI, config: ModelConfig, body: dict[str, Any], *,
                   emit: Emit | None) -> ProviderReply:
        response = await send_openai(sdk, config, body, stream=emit is not None, route=_ROUTE)
        if emit is None:
            return _reply(response)
        return await _read_stream(response, emit)

    def classify(self, exc: BaseException) -> Failure | None:
        return classify(exc)


def _output_params(plan: OutputPlan) -> dict[str, Any]:
    """The plan's structured output, and its tools offered for the model to choose from
    (strict where the schema allows it: the API's default is strict, which refuses an
    open schema)."""
    params = _format_params(plan)
    if plan.tools:
        offered = [_function_tool(t.name, t.parameters, t.description,
                                  is_strict_compatible(t.parameters)) for t in plan.tools]
        params.update(tools=[*offered, *params.get("tools", [])], tool_choice="auto")
    return params


def _function_tool(name: str, parameters: Any, description: str,
                   strict: bool) -> dict[str, Any]:
    tool = {"type": "function", "name": name, "parameters": parameters, "strict": strict}
    if description:
        tool["description"] = description
    return tool


def _format_params(plan: OutputPlan) -> dict[str, Any]:
    if plan.technique == "tool":
        tool = _function_tool(plan.name, plan.schema, plan.description, plan.strict)
        return {"tools": [tool], "tool_choice": {"type": "function", "name": plan.name}}
    if plan.technique == "json_schema":
        return {"text": {"format": {"type": "json_schema", "name": plan.name,
                                    "schema": plan.schema, "strict": plan.strict}}}
    if plan.technique == "json_object":
        return {"text": {"format": {"type": "json_object"}}}
    return {}


def input_items(messages: list[Message]) -> list[dict[str, Any]]:
    """Chat-shaped messages as Responses `input` items."""
    items: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            items.append({"type": "function_call_output", "call_id": message["tool_call_id"],
                          "output": content_text(message.get("content"))})
            continue
        content = message.get("content")
        if content or not message.get("tool_calls"):
            items.append({"role": role, "content": _content(content, role)})
        for call in message.get("tool_calls") or []:
            function = call["function"]
            items.append({"type": "function_call", "call_id": call["id"],
                          "name": function["name"], "arguments": function["arguments"]})
    return items


def _content(content: Any, role: Any) -> Any:
    if not isinstance(content, list):
        return content if content is not None else ""
    kind = "output_text" if role == "assistant" else "input_text"
    parts = []
    for part in content:
        if part.get("type") == "text":
            parts.append({"type": kind, "text": part["text"]})
        elif part.get("type") == "image_url":
            image = part["image_url"]
            url = image["url"] if isinstance(image, dict) else image
            parts.append({"type": "input_image", "image_url": url})
        else:
            parts.append(part)
    return parts


def _reply(response: Any) -> ProviderReply:
    output = getattr(response, "output", None)
    if output is None:
        raise MalformedResponseError("the 200 body is not a response with output items")
    texts, refusals, calls = [], [], []
    for item in output:
        if item.type == "function_call":
            calls.append(ToolCall(item.call_id, item.name, item.arguments or ""))
        elif item.type == "message":
            for part in item.content:
                if part.type == "output_text":
                    texts.append(part.text)
                elif part.type == "refusal":
                    refusals.append(part.refusal)
    return ProviderReply(
        text="".join(texts) if texts or not calls else None, tool_calls=tuple(calls),
        finish_reason=_finish_reason(response, bool(calls)),
        refusal="".join(refusals) or None, usage=_usage(response.usage),
        response_id=response.id, model=response.model,
    )  # fmt: skip


def _finish_reason(response: Any, called: bool) -> str:
    details = getattr(response, "incomplete_details", None)
    reason = getattr(details, "reason", None) if details is not None else None
    if reason == "max_output_tokens":
        return "length"
    if reason == "content_filter":
        return "content_filter"
    return "tool_calls" if called else "stop"


def _usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    details = getattr(usage, "input_tokens_details", None)
    return Usage(input_tokens=usage.input_tokens or 0, output_tokens=usage.output_tokens or 0,
                 cached_tokens=getattr(details, "cached_tokens", 0) or 0)


@dataclass
class _Partial:
    """What a stream has said so far, for the error when it is cut."""

    events: int = 0
    emitted: bool = False
    text: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)

    def partial(self) -> str | None:
        return "".join(self.text) or "".join(self.arguments) or None


async def _read_stream(events: AsyncIterator[Any], emit: Emit) -> ProviderReply:
    """Hand text and tool-call deltas on as they arrive; the reply from the final event.
    A stream that fails or ends before `response.completed` raises `StreamCutError`."""
    seen = _Partial()
    try:
        async for event in events:
            seen.events += 1
            if event.type in _END_EVENTS:
                return _reply(event.response)
            if event.type in ("response.failed", "error"):
                raise StreamCutError(f"the response failed: {_failure(event)}",
                                     emitted=seen.emitted, partial=seen.partial())
            delta = _delta(event, seen)
            if delta is not None:
                seen.emitted = True
                emit(delta)
    except (openai.APIError, json.JSONDecodeError) as exc:
        raise StreamCutError(
            f"the stream failed after {seen.events} event(s): {type(exc).__name__}: {exc}",
            emitted=seen.emitted, partial=seen.partial()) from exc
    raise StreamCutError(f"the stream ended after {seen.events} event(s) without "
                         f"response.completed", emitted=seen.emitted, partial=seen.partial())


def _failure(event: Any) -> str:
    error = getattr(getattr(event, "response", None), "error", None) or event
    return str(getattr(error, "message", None) or error)


def _delta(event: Any, seen: _Partial) -> TextDelta | ToolCallDelta | None:
    if event.type == "response.output_text.delta":
        seen.text.append(event.delta)
        return TextDelta(event.delta)
    if event.type == "response.output_item.added" and event.item.type == "function_call":
        return ToolCallDelta(event.output_index, "", event.item.call_id, event.item.name)
    if event.type == "response.function_call_arguments.delta":
        seen.arguments.append(event.delta)
        return ToolCallDelta(event.output_index, event.delta)
    return None
