"""Streamed calls: the events a stream yields, and chunks assembled back into one completion.

    async for event in client.stream(messages, config="main"):
        match event:
            case TextDelta(text=text): print(text, end="")
            case StreamEnd(result=result): print(result.usage)

A stream runs the same attempt loop as `call`: the SDK parses the server-sent events
(`stream=True`, with `stream_options.include_usage` so usage is reported and logged), the
chunks are assembled into one completion, and that completion is validated like any other.
Retries and fallbacks happen only before an attempt's first token; once a token was
yielded, a failure ends the call. A stream that ends without a finish_reason is a
`TruncatedOutputError`, never a silent success. A re-ask after tokens were yielded is
announced with a `Restart` event, so a UI can clear what it showed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from promptkit.core.failures import MalformedResponseError
from promptkit.core.results import CallResult

__all__ = [
    "Restart",
    "StreamCutError",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "read_stream",
    "stream_events",
]

STREAM_PARAMS: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
"""What a streamed attempt adds to its request."""


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply's text, as it arrived; `attempt` is its attempt's index."""

    text: str
    attempt: int = 0


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call: its id and name come first, then pieces of its arguments."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None
    attempt: int = 0


@dataclass(frozen=True)
class Restart:
    """The output yielded so far is discarded: the model is re-asked (`errors` say why)."""

    attempt: int
    reason: str
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamEnd:
    """The last event: the validated result, with usage, attempts and time to first token."""

    result: CallResult


StreamEvent = TextDelta | ToolCallDelta | Restart | StreamEnd
"""What `client.stream(...)` yields; always ends with one `StreamEnd` unless it raises."""


class StreamCutError(MalformedResponseError):
    """A stream that failed or ended before its finish_reason; `emitted` if tokens went out,
    `partial` the text (or tool arguments) received."""

    def __init__(self, message: str, *, emitted: bool, partial: str | None = None) -> None:
        self.emitted = emitted
        self.partial = partial
        super().__init__(message)


@dataclass
class _ToolCall:
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
    tools: dict[int, _ToolCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Any = None
    head: dict[str, Any] = field(default_factory=dict)

    def add(self, chunk: ChatCompletionChunk, attempt: int) -> list[TextDelta | ToolCallDelta]:
        """Take one chunk; the deltas worth yielding from it."""
        self.chunks += 1
        self.head = self.head or {"id": chunk.id, "created": chunk.created, "model": chunk.model}
        if chunk.usage is not None:
            self.usage = chunk.usage
        deltas: list[TextDelta | ToolCallDelta] = []
        for choice in chunk.choices or []:
            if choice.index != 0:
                continue
            self.finish_reason = choice.finish_reason or self.finish_reason
            deltas += self._delta(choice.delta, attempt)
        self.emitted = self.emitted or bool(deltas)
        return deltas

    def _delta(self, delta: Any, attempt: int) -> list[TextDelta | ToolCallDelta]:
        if delta is None:
            return []
        out: list[TextDelta | ToolCallDelta] = []
        if delta.content:
            self.content.append(delta.content)
            out.append(TextDelta(delta.content, attempt))
        if getattr(delta, "refusal", None):
            self.refusal.append(delta.refusal)
        for piece in delta.tool_calls or []:
            out.append(self._tool_piece(piece, attempt))
        return out

    def _tool_piece(self, piece: Any, attempt: int) -> ToolCallDelta:
        call = self.tools.setdefault(piece.index, _ToolCall())
        function = piece.function
        name = function.name if function is not None else None
        arguments = (function.arguments if function is not None else None) or ""
        call.id = call.id or piece.id
        call.name = call.name or name or ""
        call.arguments.append(arguments)
        return ToolCallDelta(piece.index, arguments, piece.id, name, attempt)

    def partial(self) -> str | None:
        """What arrived of the output: the text, else the first tool call's arguments."""
        if self.content:
            return "".join(self.content)
        if self.tools:
            return "".join(self.tools[min(self.tools)].arguments)
        return None

    def completion(self) -> ChatCompletion:
        """One chat.completion, built leniently the way the SDK builds a non-streamed one."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self.content) if self.content or not self.tools else None,
            "refusal": "".join(self.refusal) or None,
        }
        if self.tools:
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_{index}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": "".join(call.arguments)},
                }
                for index, call in sorted(self.tools.items())
            ]
        usage = self.usage.model_dump() if hasattr(self.usage, "model_dump") else self.usage
        return ChatCompletion.construct(
            **self.head,
            object="chat.completion",
            choices=[{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            usage=usage,
        )


async def read_stream(
    chunks: AsyncIterator[ChatCompletionChunk],
    emit: Callable[[TextDelta | ToolCallDelta], None],
    attempt: int,
) -> ChatCompletion:
    """Yield each delta through `emit` as it arrives; the assembled completion at the end.

    Raises `StreamCutError` when the stream fails or ends before its finish_reason.
    """
    assembly = _Assembly()
    try:
        async for chunk in chunks:
            for delta in assembly.add(chunk, attempt):
                emit(delta)
    except (openai.APIError, json.JSONDecodeError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise StreamCutError(
            f"the stream failed after {assembly.chunks} chunk(s): {detail}",
            emitted=assembly.emitted,
            partial=assembly.partial(),
        ) from exc
    if assembly.finish_reason is None:
        raise StreamCutError(
            f"the stream ended after {assembly.chunks} chunk(s) without a finish_reason",
            emitted=assembly.emitted,
            partial=assembly.partial(),
        )
    return assembly.completion()


@dataclass(frozen=True)
class _Failed:
    error: BaseException


async def stream_events(
    run: Callable[[Callable[[StreamEvent], None]], Any],
) -> AsyncGenerator[StreamEvent, None]:
    """Run a call (`run(emit)` returns its coroutine) as a task; yield what it emits as it
    comes, then `StreamEnd`, or raise its error. Leaving early cancels the call."""
    queue: asyncio.Queue[StreamEvent | _Failed] = asyncio.Queue()

    async def drive() -> None:
        try:
            result = await run(queue.put_nowait)
        except BaseException as exc:
            queue.put_nowait(_Failed(exc))
            if not isinstance(exc, Exception):
                raise
        else:
            queue.put_nowait(StreamEnd(result))

    task = asyncio.ensure_future(drive())
    try:
        while True:
            event = await queue.get()
            if isinstance(event, _Failed):
                raise event.error
            yield event
            if isinstance(event, StreamEnd):
                return
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
