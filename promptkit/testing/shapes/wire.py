"""What every protocol shape provides, and the stream pieces they share.

A `Shape` turns one `Reply` into one protocol's wire format: its success body, its error
body and its server-sent events. The fake server picks the shape by the route posted to
and stays ignorant of any protocol's fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from promptkit.testing.replies import Reply

__all__ = [
    "ApiProtocol",
    "Shape",
    "SseEvent",
    "bearer_token",
    "cut_stream",
    "pieces",
    "request_id",
]

ApiProtocol = Literal["chat", "responses", "anthropic"]
"""The protocols the fake server speaks: OpenAI chat, OpenAI Responses, Anthropic Messages."""

Request = Mapping[str, Any]


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event; `delta` marks the events that `stream_cut_after` counts."""

    data: Any
    event: str | None = None
    delta: bool = False

    def encode(self) -> bytes:
        text = self.data if isinstance(self.data, str) else json.dumps(self.data)
        name = f"event: {self.event}\n" if self.event else ""
        return f"{name}data: {text}\n\n".encode()


@dataclass(frozen=True)
class Shape:
    """How one protocol renders a reply; each builder takes the request number last."""

    protocol: ApiProtocol
    route: str
    """The end of the path this protocol is posted to."""
    request_id_header: str
    body: Callable[[Reply, Request, int], dict[str, Any]]
    error_body: Callable[[Reply, int], dict[str, Any]]
    stream: Callable[[Reply, Request, int], list[SseEvent]]
    credential: Callable[[Mapping[str, str]], str | None]
    """The API key the request carries, read the way this protocol's SDK sends it."""

    def serves(self, method: str, path: str) -> bool:
        return method == "POST" and path.split("?", 1)[0].rstrip("/").endswith(self.route)


def request_id(number: int) -> str:
    """The id of the `number`-th request, sent in a header (and in Anthropic's error body)."""
    return f"req_{number:06d}"


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, as OpenAI's SDK sends it."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else None


def pieces(text: str, size: int) -> Iterator[str]:
    """`text` in slices of `size` characters (at least one), as a stream sends it."""
    step = max(1, size)
    for start in range(0, len(text), step):
        yield text[start : start + step]


def cut_stream(events: list[SseEvent], after: int) -> list[SseEvent]:
    """The events up to the `after`-th delta, or up to the last delta when there are fewer:
    a cut stream never reaches the events that end it."""
    positions = [i for i, event in enumerate(events) if event.delta]
    if not positions:
        return []
    if after <= 0:
        return events[: positions[0]]
    return events[: positions[min(after, len(positions)) - 1] + 1]
