"""The reliability core: one model call done right (no Jinja, registry or pytest here)."""

from promptkit.core.breaker import BreakerState, CircuitBreaker
from promptkit.core.client import AsyncClient, Client, ConfigSource
from promptkit.core.hooks import AttemptContext, CallHooks, CallRecord
from promptkit.core.results import Attempt, AttemptKind, CallResult, Usage
from promptkit.core.retry import RetryPolicy
from promptkit.core.structured import extract_json
from promptkit.core.types import Capability, Message, ModelConfig, OutputMode, OutputSpec, ToolSpec

__all__ = [
    "AsyncClient",
    "Attempt",
    "AttemptContext",
    "AttemptKind",
    "BreakerState",
    "CallHooks",
    "CallRecord",
    "CallResult",
    "Capability",
    "CircuitBreaker",
    "Client",
    "ConfigSource",
    "Message",
    "ModelConfig",
    "OutputMode",
    "OutputSpec",
    "RetryPolicy",
    "ToolSpec",
    "Usage",
    "extract_json",
]
