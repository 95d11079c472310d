"""Testing helpers for promptkit users: a fault-injecting fake OpenAI server and its fixture."""

from promptkit.testing.fake_server import DEFAULT_FAULTS, FakeOpenAIServer, RecordedRequest
from promptkit.testing.replies import Reply, ToolCallReply

__all__ = ["DEFAULT_FAULTS", "FakeOpenAIServer", "RecordedRequest", "Reply", "ToolCallReply"]
