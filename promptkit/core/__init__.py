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
    from promptkit.core.hooks import AttemptContext, AttemptOutcome, CallHooks, CallRecord
    from promptkit.core.results import Attempt, AttemptKind, CallResult, Usage
    from promptkit.core.retry import RetryPolicy
    from promptkit.core.streaming import Restart, StreamEnd, StreamEvent, TextDelta, ToolCallDelta
    from promptkit.core.structured import extract_json
    from promptkit.core.types import (
        Capability,
        Message,
        ModelConfig,
        OutputMode,
        OutputSpec,
        ToolSpec,
    )

__all__ = [
    "AsyncClient",
    "Attempt",
    "AttemptContext",
    "AttemptKind",
    "AttemptOutcome",
    "BreakerState",
    "Budget",
    "CallHooks",
    "CallLog",
    "CallLogEntry",
    "CallLogSink",
    "CallRecord",
    "CallResult",
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
    "Restart",
    "RetryPolicy",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "ToolSpec",
    "Usage",
    "extract_json",
]

_HOMES = {
    "AsyncClient": "promptkit.core.client",
    "Attempt": "promptkit.core.results",
    "AttemptContext": "promptkit.core.hooks",
    "AttemptKind": "promptkit.core.results",
    "AttemptOutcome": "promptkit.core.hooks",
    "BreakerState": "promptkit.core.breaker",
    "Budget": "promptkit.core.budget",
    "CallHooks": "promptkit.core.hooks",
    "CallLog": "promptkit.core.calllog",
    "CallLogEntry": "promptkit.core.calllog",
    "CallLogSink": "promptkit.core.calllog",
    "CallRecord": "promptkit.core.hooks",
    "CallResult": "promptkit.core.results",
    "Capability": "promptkit.core.types",
    "CircuitBreaker": "promptkit.core.breaker",
    "Client": "promptkit.core.client",
    "ConfigSource": "promptkit.core.client",
    "CostBreaker": "promptkit.core.budget",
    "JSONLSink": "promptkit.core.calllog",
    "Message": "promptkit.core.types",
    "ModelConfig": "promptkit.core.types",
    "OutputMode": "promptkit.core.types",
    "OutputSpec": "promptkit.core.types",
    "Restart": "promptkit.core.streaming",
    "RetryPolicy": "promptkit.core.retry",
    "StreamEnd": "promptkit.core.streaming",
    "StreamEvent": "promptkit.core.streaming",
    "TextDelta": "promptkit.core.streaming",
    "ToolCallDelta": "promptkit.core.streaming",
    "ToolSpec": "promptkit.core.types",
    "Usage": "promptkit.core.results",
    "extract_json": "promptkit.core.structured",
}

if not TYPE_CHECKING:  # type checkers see the imports above: a typo is an error
    __getattr__ = lazy_attributes(__name__, _HOMES)
