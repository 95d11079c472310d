"""The seams around the attempt loop: a gate before each attempt, an observer after each call.

`before_attempt` may raise `BudgetExceededError` (or any `ModelCallError`) to stop a call
before it spends; the error propagates with the attempts so far attached. `after_call`
observes: if it raises, promptkit warns and the call's outcome stands.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from promptkit.core.results import Attempt, AttemptKind, CallResult, Usage
from promptkit.core.types import Message, ModelConfig
from promptkit.errors import ModelCallError

__all__ = ["AttemptContext", "CallHooks", "CallRecord", "notify_after_call"]


@dataclass(frozen=True)
class AttemptContext:
    """What is about to be sent: enough to estimate its cost and to refuse it."""

    config: ModelConfig
    kind: AttemptKind
    number: int
    messages: Sequence[Message]
    request: Mapping[str, Any]
    spent: Usage
    elapsed_s: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallRecord:
    """A finished call, successful (`result`) or failed (`error`), for observers."""

    config_name: str
    messages: tuple[Message, ...]
    attempts: tuple[Attempt, ...]
    usage: Usage
    latency_s: float
    started_at: float
    result: CallResult | None = None
    error: ModelCallError | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class CallHooks(Protocol):
    """Called by the attempt loop; both methods run on the loop's thread and must be quick."""

    def before_attempt(self, context: AttemptContext) -> None: ...

    def after_call(self, record: CallRecord) -> None: ...


def notify_after_call(hooks: Sequence[CallHooks], record: CallRecord) -> None:
    """Tell every observer; a failing one is reported with a warning, never raised."""
    for hook in hooks:
        try:
            hook.after_call(record)
        except Exception as exc:
            warnings.warn(
                f"promptkit: hook {type(hook).__name__}.after_call failed: {exc!r}",
                RuntimeWarning,
                stacklevel=2,
            )
