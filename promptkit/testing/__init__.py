"""Testing helpers for promptkit users: a fault-injecting fake OpenAI server and its fixture."""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptkit.lazy import lazy_attributes

if TYPE_CHECKING:
    from promptkit.testing.fake_server import DEFAULT_FAULTS, FakeOpenAIServer, RecordedRequest
    from promptkit.testing.replies import Reply, ToolCallReply

__all__ = ["DEFAULT_FAULTS", "FakeOpenAIServer", "RecordedRequest", "Reply", "ToolCallReply"]


if not TYPE_CHECKING:  # type checkers see the imports above: a typo is an error
    __getattr__ = lazy_attributes(__name__)
