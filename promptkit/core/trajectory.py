"""What a tool run leaves behind: each tool call the model made (a step), each model turn,
the conversation, and the final answer.

    run = client.run_tools(messages, functions, tools=specs)
    run.tools        # ("lookup_order", "refund_order"): the tools called, in order
    run.steps[0]     # ToolStep(step=1, tool="lookup_order", arguments={...}, result=..., ...)
    run.output       # the final answer, validated like any call's output
    run.cost_usd     # every turn's cost, re-asks and retries included

An error that ends a run early carries the trajectory so far (`error.trajectory`), its
`final` None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promptkit.core.results import Attempt, CallResult, Usage
from promptkit.core.types import Message

__all__ = ["ToolStep", "Trajectory"]


@dataclass(frozen=True)
class ToolStep:
    """One tool call the model asked for, and what became of it.

    `step` counts from 1 over the whole run; `turn` is the index of the model turn that
    asked (in `Trajectory.turns`). `arguments` are the parsed arguments (the raw text when
    they were not JSON). `result` is what the function returned; `error` says why there is
    none (unknown tool, arguments that break the tool's schema, the tool's exception).
    `content` is the text the model was sent back as the tool's result.
    """

    step: int
    tool: str
    arguments: Any
    result: Any
    error: str | None
    content: str
    duration_s: float
    call_id: str
    turn: int

    @property
    def ok(self) -> bool:
        return self.error is None

    def row(self) -> dict[str, Any]:
        """The step as assertions and reports read it."""
        return {"step": self.step, "name": self.tool, "arguments": self.arguments,
                "result": self.result, "error": self.error}


@dataclass(frozen=True)
class Trajectory:
    """A tool run: its steps, its model turns (each a `CallResult`, with its attempts), the
    whole conversation, and `final`, the turn that answered (None when the run failed)."""

    steps: tuple[ToolStep, ...]
    turns: tuple[CallResult, ...]
    messages: tuple[Message, ...]
    latency_s: float
    final: CallResult | None = None

    @property
    def output(self) -> Any:
        """The final answer: parsed and validated JSON, or the text."""
        return self.final.output if self.final is not None else None

    @property
    def text(self) -> str | None:
        return self.final.text if self.final is not None else None

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools the model called, in order (one per step)."""
        return tuple(step.tool for step in self.steps)

    @property
    def usage(self) -> Usage:
        """Tokens of every turn, re-asks and retries included."""
        total = Usage()
        for turn in self.turns:
            total = total + turn.total_usage
        return total

    @property
    def cost_usd(self) -> float:
        return sum(turn.cost_usd for turn in self.turns)

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """Every HTTP request of every turn, in order."""
        return tuple(attempt for turn in self.turns for attempt in turn.attempts)
