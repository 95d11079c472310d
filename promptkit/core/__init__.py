"""The reliability core: one model call done right (no Jinja, registry or pytest here).

Names are imported on first use: importing `promptkit.core.types` (as the prompt files do)
does not load the `openai` SDK.
"""

from typing import TYPE_CHECKING

from promptkit.lazy import lazy_attributes

if TYPE_CHECKING:
    from promptkit.core.breaker import BreakerState, CircuitBreaker
    from promptkit.core.budget import Budget, CostBreaker
    from promptkit.core.calllog import CallLog, CallLogEntry, CallLogSink, JSONLSink
    from promptkit.core.client import AsyncClient, Client, ConfigSource
    from promptkit.core.hooks import CallHooks, CallRecord, CallStart, RoundContext, RoundOutcome
    from promptkit.core.results import Attempt, AttemptKind, CallResult, ToolCall, Usage
    from promptkit.core.retry import RetryPolicy
    from promptkit.core.streaming import Restart, StreamEnd, StreamEvent, TextDelta, ToolCallDelta
    from promptkit.core.structured import extract_json
    from promptkit.core.tool_loop import ToolErrors, ToolFunction
    from promptkit.core.tracing import Tracing
    from promptkit.core.trajectory import ToolStep, Trajectory
    from promptkit.core.types import (
        Capability,
        Message,
        ModelConfig,
        OutputMode,
        OutputSpec,
        Provider,
        ToolSpec,
    )

__all__ = [
    "AsyncClient",
    "Attempt",
    "AttemptKind",
    "BreakerState",
    "Budget",
    "CallHooks",
    "CallLog",
    "CallLogEntry",
    "CallLogSink",
    "CallRecord",
    "CallResult",
    "CallStart",
    "Capability",
    "CircuitBreaker",
    "Client",
    "ConfigSource",
    "CostBreaker",
    "JSONLSink",
    "Message",
    "ModelConfig",
    "OutputMode",
    "OutputSpec",
    "Provider",
    "Restart",
    "RetryPolicy",
    "RoundContext",
    "RoundOutcome",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolErrors",
    "ToolFunction",
    "ToolSpec",
    "ToolStep",
    "Tracing",
    "Trajectory",
    "Usage",
    "extract_json",
]


if not TYPE_CHECKING:  # type checkers see the imports above: a typo is an error
    __getattr__ = lazy_attributes(__name__)
