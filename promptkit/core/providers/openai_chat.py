"""OpenAI Chat Completions (`provider = "openai"`, the default): OpenAI, Azure OpenAI, and every
OpenAI-compatible endpoint (Gemini's, Groq, vLLM, llama.cpp's server, ...).

Requests are posted by the SDK (its auth, errors and SSE parsing) with the body as built;
when an instrumentation has wrapped `chat.completions.create` (OpenLLMetry,
opentelemetry-instrumentation-openai-v2), they go through that public method instead, so it
sees every call (see `base.PublicMethod`). Parameters the SDK does not name (`spec.extra`,
vendor options) then travel in `extra_body`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.resources.chat.completions import AsyncCompletions
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from promptkit.core.failures import Failure, MalformedResponseError, classify
from promptkit.core.providers.base import Emit, PublicMethod, SdkOptions, sdk_arguments
from promptkit.core.results import ProviderReply, ToolCall, Usage
from promptkit.core.streaming import StreamCutError, TextDelta, ToolCallDelta
from promptkit.core.structured import OutputPlan, grammar_schema
from promptkit.core.transport import recorded_answer
from promptkit.core.types import Capability, Message, ModelConfig

__all__ = ["OpenAIChat", "Route", "output_params", "send_openai"]

@dataclass(frozen=True)
class Route:
    """One OpenAI API method: its public SDK method and what posting it directly needs."""

    method: PublicMethod
    path: str
    cast_to: type
    stream_cls: type
    resource: str


_ROUTE = Route(PublicMethod(AsyncCompletions, "create"), "/chat/completions", ChatCompletion,
               openai.AsyncStream[ChatCompletionChunk], "chat.completions")


async def send_openai(sdk: openai.AsyncOpenAI, config: ModelConfig, body: dict[str, Any], *,
                      stream: bool, route: Route) -> Any:
    """Post `body` through the SDK, or through its public method when an instrumentation
    has wrapped that (see `base.PublicMethod`); the parsed response or the event stream."""
    if route.method.wrapped():
        resource: Any = sdk
        for name in route.resource.split("."):
            resource = getattr(resource, name)
        known = sdk_arguments(body, route.method.parameters, _omitted(config))
        return await resource.create(**known, stream=stream)
    return await sdk.post(
        route.path, cast_to=route.cast_to, body={**body, "stream": True} if stream else body,
        options=_request_options(config), stream=stream,
        stream_cls=route.stream_cls)  # fmt: skip
STREAM_OPTIONS = {"stream_options": {"include_usage": True}}
"""What a streamed request adds: usage in the last chunk, so a stream is priced and logged."""


def output_params(plan: OutputPlan) -> dict[str, Any]:
    """The Chat Completions parameters that ask for the plan's structured output and offer
    its tools, the output's own tool among them, for the model to choose from."""
    params = _format_params(plan)
    if plan.tools:
        offered = [_function_tool(t.name, t.parameters, t.description) for t in plan.tools]
        params.update(tools=[*offered, *params.get("tools", [])], tool_choice="auto")
    return params


def _function_tool(name: str, parameters: Any, description: str) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "parameters": parameters}
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


def _format_params(plan: OutputPlan) -> dict[str, Any]:
    if plan.technique == "tool":
        return {"tools": [_function_tool(plan.name, plan.schema, plan.description)],
                "tool_choice": {"type": "function", "function": {"name": plan.name}}}
    if plan.technique == "json_schema":
        fmt = {"name": plan.name, "schema": plan.schema, "strict": plan.strict}
        return {"response_format": {"type": "json_schema", "json_schema": fmt}}
    if plan.technique == "json_object_schema":
        return {"response_format": {"type": "json_object",
                                    "schema": grammar_schema(plan.schema)}}
    if plan.technique == "json_object":
        return {"response_format": {"type": "json_object"}}
    return {}


class OpenAIChat:
    """The Chat Completions API through the `openai` SDK."""

    name = "openai"

    def client(self, config: ModelConfig, options: SdkOptions) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=options.api_key, base_url=options.base_url, timeout=options.timeout_s,
            max_retries=0, http_client=options.http_client,
            default_headers=dict(options.headers) or None,
            default_query=dict(options.query) or None,
            organization=config.organization, project=config.project,
        )  # fmt: skip

    def technique(self, capability: Capability) -> Capability:
        return capability

    def params(self, config: ModelConfig, plan: OutputPlan, temperature: float | None,
               max_tokens: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"model": config.model}
        if temperature is not None:
            params["temperature"] = temperature
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        return {**params, **output_params(plan)}

    def payload(self, messages: list[Message]) -> dict[str, Any]:
        return {"messages": messages}

    async def send(self, sdk: openai.AsyncOpenAI, config: ModelConfig, body: dict[str, Any], *,
                   emit: Emit | None) -> ProviderReply:
        if emit is None and not _ROUTE.method.wrapped():
            recorded = recorded_answer(sdk, _ROUTE.path, body)
            if recorded is not None:  # read as the SDK's model would be, without building it
                return _reply(_Fields(recorded))
        if emit is not None:
            body = {**body, **STREAM_OPTIONS}
        response = await send_openai(sdk, config, body, stream=emit is not None, route=_ROUTE)
        if emit is None:
            return _reply(response)
        return await _read_stream(response, emit)

    def classify(self, exc: BaseException) -> Failure | None:
        return classify(exc)


def _reply(completion: Any) -> ProviderReply:
    choices = getattr(completion, "choices", None)
    if not choices:
        raise MalformedResponseError("the 200 body is not a chat completion with choices")
    choice = choices[0]
    message = choice.message
    calls = tuple(
        ToolCall(call.id, call.function.name, call.function.arguments or "")
        for call in (message.tool_calls or []) if getattr(call, "function", None) is not None
    )
    return ProviderReply(
        text=message.content, tool_calls=calls, finish_reason=choice.finish_reason,
        refusal=getattr(message, "refusal", None),
        usage=Usage.from_openai(completion.usage) if completion.usage is not None else None,
        response_id=completion.id, model=completion.model,
    )  # fmt: skip


class _Fields:
    """A JSON object read by attribute, as `_reply` reads the SDK's parsed model: a missing or
    null field is None and a nested object is read the same way. A recorded answer is read
    through it, without the SDK's recursive construction of its model (a replay's main cost)."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        return _field(self._data.get(name))


def _field(value: Any) -> Any:
    if isinstance(value, dict):
        return _Fields(value)
    if isinstance(value, list):
        return [_field(item) for item in value]
    return value


@dataclass
class _ToolCallParts:
    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Assembly:
    """The chunks of one streamed response, put back together."""

    chunks: int = 0
    emitted: bool = False
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tools: dict[int, _ToolCallParts] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Any = None
    response_id: str | None = None
    model: str | None = None

    def add(self, chunk: Any) -> list[TextDelta | ToolCallDelta]:
        """Take one chunk; the deltas worth yielding from it."""
        self.chunks += 1
        self.response_id = self.response_id or chunk.id
        self.model = self.model or chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        deltas: list[TextDelta | ToolCallDelta] = []
        for choice in chunk.choices or []:
            if choice.index != 0:
                continue
            self.finish_reason = choice.finish_reason or self.finish_reason
            deltas += self._delta(choice.delta)
        self.emitted = self.emitted or bool(deltas)
        return deltas

    def _delta(self, delta: Any) -> list[TextDelta | ToolCallDelta]:
        if delta is None:
            return []
        out: list[TextDelta | ToolCallDelta] = []
        if delta.content:
            self.content.append(delta.content)
            out.append(TextDelta(delta.content))
        if getattr(delta, "refusal", None):
            self.refusal.append(delta.refusal)
        for piece in delta.tool_calls or []:
            out.append(self._tool_piece(piece))
        return out

    def _tool_piece(self, piece: Any) -> ToolCallDelta:
        call = self.tools.setdefault(piece.index, _ToolCallParts())
        function = piece.function
        name = function.name if function is not None else None
        arguments = (function.arguments if function is not None else None) or ""
        call.id = call.id or piece.id
        call.name = call.name or name or ""
        call.arguments.append(arguments)
        return ToolCallDelta(piece.index, arguments, piece.id, name)

    def partial(self) -> str | None:
        """What arrived of the output: the text, else the first tool call's arguments."""
        if self.content:
            return "".join(self.content)
        if self.tools:
            return "".join(self.tools[min(self.tools)].arguments)
        return None

    def reply(self) -> ProviderReply:
        calls = tuple(ToolCall(call.id or f"call_{index}", call.name, "".join(call.arguments))
                      for index, call in sorted(self.tools.items()))
        return ProviderReply(
            text="".join(self.content) if self.content or not self.tools else None,
            tool_calls=calls, finish_reason=self.finish_reason,
            refusal="".join(self.refusal) or None,
            usage=Usage.from_openai(self.usage) if self.usage is not None else None,
            response_id=self.response_id, model=self.model,
        )  # fmt: skip


async def _read_stream(chunks: AsyncIterator[Any], emit: Emit) -> ProviderReply:
    """Hand each delta to `emit` as it arrives; the assembled reply at the end. A stream
    that fails or ends before its finish_reason raises `StreamCutError`."""
    assembly = _Assembly()
    try:
        async for chunk in chunks:
            for delta in assembly.add(chunk):
                emit(delta)
    except (openai.APIError, json.JSONDecodeError) as exc:
        raise StreamCutError(
            f"the stream failed after {assembly.chunks} chunk(s): {type(exc).__name__}: {exc}",
            emitted=assembly.emitted, partial=assembly.partial(),
        ) from exc  # fmt: skip
    if assembly.finish_reason is None:
        raise StreamCutError(
            f"the stream ended after {assembly.chunks} chunk(s) without a finish_reason",
            emitted=assembly.emitted, partial=assembly.partial(),
        )  # fmt: skip
    return assembly.reply()


def _request_options(config: ModelConfig) -> Any:
    """What a directly posted request asks of the SDK: the key as a bearer token, or, with
    `api_key_header`, no Authorization header at all (the key travels in that header)."""
    if config.api_key_header:
        return {"headers": {"Authorization": openai.omit}}
    return {"security": {"bearer_auth": True}}


def _omitted(config: ModelConfig) -> dict[str, Any]:
    """With `api_key_header`, the key travels in that header only (Azure's `api-key`)."""
    return {"Authorization": openai.omit} if config.api_key_header else {}
