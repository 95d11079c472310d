"""Fit a conversation into a model's context window, dropping the oldest whole turns first.

System (and developer) messages are always kept, and so is the newest turn. A
turn is a user message with the assistant and tool messages that answer it, so a
tool call is never separated from its results. Older turns are kept newest first
until the next one would not fit; it and everything older are dropped. Nothing
is cut silently: a message is truncated only when it alone exceeds the budget
left for the conversation, and then it ends with a marker and is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from promptkit.core.prices import catalog_context_window
from promptkit.core.tokens import (
    REPLY_PRIMING_TOKENS,
    count_message_tokens,
    count_tokens,
    truncate_to_tokens,
)
from promptkit.core.types import Message, ModelConfig
from promptkit.errors import ConfigError, ContextBudgetError

__all__ = [
    "PINNED_ROLES",
    "TRUNCATION_MARKER",
    "FitResult",
    "Truncation",
    "context_window",
    "fit_messages",
]

PINNED_ROLES = frozenset({"system", "developer"})
"""Roles that are always kept, wherever they stand."""
TRUNCATION_MARKER = "\n[... truncated by promptkit: {removed} of {total} tokens removed to fit]"
"""Appended to a truncated message; `{removed}` and `{total}` are token counts."""


@dataclass(frozen=True)
class Truncation:
    """One message shortened to fit: its index in `FitResult.messages`, and its size
    (overhead included) before and after."""

    index: int
    role: str
    tokens_before: int
    tokens_after: int


@dataclass(frozen=True)
class FitResult:
    """The messages that fit, and what was dropped or truncated to get there.

    `tokens` is the prompt size of `messages` (reply priming included) and
    `budget` the tokens the prompt may use: the window minus the output reserve.
    """

    messages: list[Message]
    dropped: list[Message] = field(default_factory=list)
    truncated: list[Truncation] = field(default_factory=list)
    tokens: int = 0
    budget: int = 0
    exact: bool = True


def context_window(config: ModelConfig | str) -> int | None:
    """The model's context window: the config's `context_window`, else genai-prices' table."""
    if isinstance(config, str):
        return catalog_context_window(config)
    return config.context_window or catalog_context_window(config.model, config.base_url)


def fit_messages(
    messages: Sequence[Message],
    *,
    model: ModelConfig | str,
    budget_tokens: int | None = None,
    reserve_output: int | None = None,
) -> FitResult:
    """Keep the system messages and the newest turns that fit `budget_tokens - reserve_output`.

    `budget_tokens` defaults to the model's context window and `reserve_output`
    to the config's `max_tokens` (else 0). Raises `ContextBudgetError` when the
    system messages and the newest turn cannot fit even with one message truncated.
    """
    name = model if isinstance(model, str) else model.model
    budget = _prompt_budget(model, budget_tokens, reserve_output)
    out = list(messages)
    costs = [_cost(m, name) for m in out]
    turns = _turns(out)
    pinned = [i for i, m in enumerate(out) if m.get("role") in PINNED_ROLES]
    newest = turns.pop() if turns else []
    fixed = REPLY_PRIMING_TOKENS + sum(costs[i] for i in pinned)
    truncated = _fit_newest_turn(out, costs, newest, budget - fixed, name)
    kept = _keep_newest_turns(turns, costs, budget - fixed - sum(costs[i] for i in newest))
    keep = {*pinned, *newest, *kept}
    order = sorted(keep)
    fitted = [out[i] for i in order]
    total = count_message_tokens(fitted, name)
    return FitResult(
        messages=fitted,
        dropped=[m for i, m in enumerate(messages) if i not in keep],
        truncated=[replace(t, index=order.index(t.index)) for t in truncated],
        tokens=total.tokens,
        budget=budget,
        exact=total.exact,
    )


def _prompt_budget(
    model: ModelConfig | str, budget_tokens: int | None, reserve_output: int | None
) -> int:
    """The tokens the prompt may use: the window (or given budget) minus the output reserve."""
    window = budget_tokens if budget_tokens is not None else context_window(model)
    name = model if isinstance(model, str) else model.model
    if window is None:
        raise ConfigError(
            f"no context window known for {name!r}: "
            "pass budget_tokens or set context_window in the model config"
        )
    if reserve_output is None:
        reserve_output = 0 if isinstance(model, str) else (model.max_tokens or 0)
    return window - reserve_output


def _turns(messages: Sequence[Message]) -> list[list[int]]:
    """Indices of the non-pinned messages, grouped into turns that each start at a user message."""
    turns: list[list[int]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role in PINNED_ROLES:
            continue
        if role == "user" or not turns:
            turns.append([i])
        else:
            turns[-1].append(i)
    return turns


def _keep_newest_turns(turns: list[list[int]], costs: list[int], room: int) -> list[int]:
    """The newest older turns that fit `room`, stopping at the first one that does not."""
    kept: list[int] = []
    for turn in reversed(turns):
        turn_cost = sum(costs[i] for i in turn)
        if turn_cost > room:
            break
        room -= turn_cost
        kept.extend(turn)
    return kept


def _fit_newest_turn(
    out: list[Message], costs: list[int], newest: list[int], room: int, model: str
) -> list[Truncation]:
    """Make the newest turn fit `room`, truncating its largest message if that alone exceeds it."""
    needed = sum(costs[i] for i in newest)
    if needed <= room:
        return []
    if room <= 0:
        raise ContextBudgetError(
            f"the system messages alone exceed the prompt budget by {-room} tokens"
        )
    largest = max(newest, key=lambda i: costs[i])
    content = out[largest].get("content")
    short = f"the newest turn needs {needed} tokens but {room} are left after the system messages"
    if costs[largest] <= room:
        raise ContextBudgetError(f"{short}, and no single message alone exceeds that")
    if not isinstance(content, str):
        raise ContextBudgetError(f"{short}, and its largest message is not plain text to cut")
    others = needed - costs[largest]
    out[largest] = _truncated(out[largest], content, room - others, model)
    before, costs[largest] = costs[largest], _cost(out[largest], model)
    return [Truncation(largest, str(out[largest].get("role")), before, costs[largest])]


def _truncated(message: Message, content: str, room: int, model: str) -> Message:
    """A copy of `message` whose content, ended by the marker, fits `room` tokens."""
    total = count_tokens(content, model).tokens
    keep = room - _cost({**message, "content": _marker(total, total)}, model)
    while keep > 0:
        head = truncate_to_tokens(content, keep, model)
        removed = total - count_tokens(head, model).tokens
        shorter = {**message, "content": head + _marker(removed, total)}
        excess = _cost(shorter, model) - room
        if excess <= 0:
            return shorter
        keep -= excess
    raise ContextBudgetError(
        f"a {message.get('role')} message of {total} tokens cannot be truncated into "
        f"the {room} tokens left for it"
    )


def _cost(message: Message, model: str) -> int:
    return count_message_tokens([message], model, reply_priming=False).tokens


def _marker(removed: int, total: int) -> str:
    return TRUNCATION_MARKER.format(removed=removed, total=total)
