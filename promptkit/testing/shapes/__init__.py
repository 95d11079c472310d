"""The wire protocols the fake server speaks, one module each, chosen by the route posted to.

Each module builds a `Shape` (in `wire`): a success body, an error body and the stream
events of one `Reply`. Adding a protocol means adding a module and listing it here.
"""

from __future__ import annotations

from promptkit.testing.shapes.anthropic_messages import ANTHROPIC
from promptkit.testing.shapes.chat_completions import CHAT
from promptkit.testing.shapes.openai_responses import RESPONSES
from promptkit.testing.shapes.wire import ApiProtocol, Shape, SseEvent, cut_stream, request_id

__all__ = [
    "ANTHROPIC",
    "CHAT",
    "RESPONSES",
    "ApiProtocol",
    "Shape",
    "SseEvent",
    "cut_stream",
    "request_id",
    "shape_for",
]

_SHAPES = (CHAT, RESPONSES, ANTHROPIC)


def shape_for(method: str, path: str) -> Shape | None:
    """The protocol a model request to `path` speaks, or None for any other route."""
    return next((shape for shape in _SHAPES if shape.serves(method, path)), None)
