"""The seams around the attempt loop: a gate before each round, observers after it and the call.

Words: a *round* is one SDK call, one pass of promptkit's retry loop (a first request, a
retry, a re-ask, or a fallback config's turn); an *attempt* (`Attempt`) is one HTTP request.
The SDK never retries, so a round that reached the server holds exactly one attempt.
`CallResult.attempts` lists the attempts.

`before_round` may raise `BudgetExceededError` (or any `ModelCallError`) to stop a call
before it spends; the error propagates with the attempts so far attached. A hook may also
define `after_round(context, outcome)`: it is called once for every `before_round` that
returned, whatever became of the round (failure and cancellation included), with what the
round spent, so a gate can settle what it reserved. `after_round` and `after_call`
observe: if they raise, promptkit warns and the call's outcome stands.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from promptkit.core.results import Attempt, AttemptKind, CallResult, Usage
from promptkit.core.types import Message, ModelConfig

__all__ = [
    "CallHooks",
    "CallRecord",
    "CallStart",
    "CallStartHooks",
    "RoundContext",
    "RoundHooks",
    "RoundOutcome",
    "notify_after_call",
    "notify_after_round",
    "notify_before_call",
]


@dataclass(frozen=True)
class CallStart:
    """A call about to start: its id, the first config it will try, its metadata (the
    prompt's name, version and content hash when called through `call_prompt`)."""

    call_id: str
    config: ModelConfig | None
    metadata: Mapping[str, Any]
    stream: bool
    started_at: float


@dataclass(frozen=True)
class RoundContext:
    """What is about to be sent: enough to estimate its cost and to refuse it.

    `call_id` names the call (the same id the call log and `CallResult.call_id` carry);
    `number` is the index the round's first HTTP request will have in the call's attempts.
    """

    config: ModelConfig
    kind: AttemptKind
    number: int
    messages: Sequence[Message]
    request: Mapping[str, Any]
    spent: Usage
    elapsed_s: float
    metadata: Mapping[str, Any] = field(default_factory=dict)
    call_id: str = ""


@dataclass(frozen=True)
class RoundOutcome:
    """What one round spent: its HTTP request (none if it never went out) and its usage.

    `unreported` counts responses that began (HTTP 200) but reported no usage: a malformed
    body, a stream cut short, a server that sends no usage. The endpoint may have billed
    them, so a cost gate should count them at their worst case.
    """

    requests: tuple[Attempt, ...] = ()
    usage: Usage = field(default_factory=Usage)
    unreported: int = 0


@dataclass(frozen=True)
class CallRecord:
    """A finished call, successful (`result`) or failed (`error`), for observers.

    `error` is usually a `ModelCallError`; a call can also end with another exception
    (cancelled, a config error). `config` is the model config of the last attempt,
    `request` the effective parameters it sent (no messages), `requested` what the caller
    asked for (None where it left the config's value), `output` and `raw_output` the parsed
    and raw output of the last response.
    """

    config_name: str
    messages: tuple[Message, ...]
    attempts: tuple[Attempt, ...]
    usage: Usage
    latency_s: float
    started_at: float
    result: CallResult | None = None
    error: BaseException | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    call_id: str = ""
    config: ModelConfig | None = None
    request: Mapping[str, Any] = field(default_factory=dict)
    requested: Mapping[str, Any] = field(default_factory=dict)
    raw_output: str | None = None
    output: Any = None
    finish_reason: str | None = None
    stream: bool = False
    first_token_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def error_type(self) -> str | None:
        """The class name of the error the call ended with, None when it succeeded."""
        return None if self.error is None else type(self.error).__name__


@runtime_checkable
class CallHooks(Protocol):
    """Called by the attempt loop; both methods run on the loop's thread and must be quick."""

    def before_round(self, context: RoundContext) -> None: ...

    def after_call(self, record: CallRecord) -> None: ...


@runtime_checkable
class CallStartHooks(Protocol):
    """The optional method of a hook that wants to see a call start (a tracer opens its
    span there, in the call's own context, so it ends in `after_call` in the same one)."""

    def before_call(self, start: CallStart) -> None: ...


@runtime_checkable
class RoundHooks(Protocol):
    """The optional third method of a hook: what an attempt it admitted spent."""

    def after_round(self, context: RoundContext, outcome: RoundOutcome) -> None: ...


def notify_after_round(
    hooks: Sequence[CallHooks], context: RoundContext, outcome: RoundOutcome
) -> None:
    """Tell the hooks that observe attempts; a failing one warns, never raises."""
    for hook in hooks:  # `RoundHooks`, by attribute: isinstance with a Protocol is slow
        if (method := getattr(hook, "after_round", None)) is not None:
            _observe(hook, "after_round", method, context, outcome)


def notify_before_call(hooks: Sequence[CallHooks], start: CallStart) -> None:
    """Tell the hooks that watch calls start; a failing one warns, never raises."""
    for hook in hooks:  # `CallStartHooks`, by attribute
        if (method := getattr(hook, "before_call", None)) is not None:
            _observe(hook, "before_call", method, start)


def notify_after_call(hooks: Sequence[CallHooks], record: CallRecord) -> None:
    """Tell every observer; a failing one is reported with a warning, never raised."""
    for hook in hooks:
        _observe(hook, "after_call", hook.after_call, record)


def _observe(hook: object, name: str, method: Any, *args: Any) -> None:
    try:
        method(*args)
    except Exception as exc:
        warnings.warn(
            f"promptkit: hook {type(hook).__name__}.{name} failed: {exc!r}",
            RuntimeWarning,
            stacklevel=3,
        )

