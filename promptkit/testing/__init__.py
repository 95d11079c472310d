"""Testing helpers for promptkit users: a fault-injecting fake model server (OpenAI chat,
OpenAI Responses and Anthropic Messages) and its fixture, and a TCP proxy that refuses,
stalls and resumes a connection to a database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptkit.lazy import lazy_attributes

if TYPE_CHECKING:
    from promptkit.testing.fake_server import DEFAULT_FAULTS, FakeOpenAIServer, RecordedRequest
    from promptkit.testing.replies import Reply, ToolCallReply
    from promptkit.testing.shapes.wire import ApiProtocol
    from promptkit.testing.tcp_proxy import TcpProxy

__all__ = [
    "DEFAULT_FAULTS",
    "ApiProtocol",
    "FakeOpenAIServer",
    "RecordedRequest",
    "Reply",
    "TcpProxy",
    "ToolCallReply",
]


if not TYPE_CHECKING:  # type checkers see the imports above: a typo is an error
    __getattr__ = lazy_attributes(__name__)
