"""Streamed calls: the events a stream yields, and chunks assembled back into one completion.

    async for event in client.stream(messages, config="main"):
        match event:
            case TextDelta(text=text): print(text, end="")
            case StreamEnd(result=result): print(result.usage)

A stream runs the same attempt loop as `call`: the provider's SDK parses the server-sent
events, the adapter (`promptkit.core.providers`) hands each delta on and assembles the
events into one reply, and that reply is validated like any other. Retries and fallbacks
happen only before an attempt's first token; once a token was yielded, a failure ends the
call. A stream that ends before its API's end event is a `TruncatedOutputError`, never a
silent success. A re-ask after tokens were yielded is
announced with a `Restart` event, so a UI can clear what it showed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

from promptkit.core.failures import MalformedResponseError
from promptkit.core.results import CallResult

__all__ = [
    "Restart",
    "StreamCutError",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "stream_events",
]


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
    """A stream that failed or ended before its end event; `emitted` if tokens went out,
    `partial` the text (or tool arguments) received."""

    def __init__(self, message: str, *, emitted: bool, partial: str | None = None) -> None:
        self.emitted = emitted
        self.partial = partial
        super().__init__(message)


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
