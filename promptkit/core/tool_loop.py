"""The tool loop: the model is offered tools, promptkit runs those it calls, until it answers.

    turn ── the attempt loop (retries, re-asks, cost, call log, tracing: per turn) ──►
      a reply calling tools: each call is one step
        unknown tool, arguments not JSON or breaking the tool's schema ──► the errors
          go back to the model as the tool's result (it can correct itself)
        else the Python function runs (a sync one in a worker thread); an exception
          goes back as the result, marked {"error": ...}, or raises (tool_errors="raise")
        the results join the conversation ──► next turn
      a reply with no tool call ──► the final answer, validated like any call's output

`max_steps` bounds the tool calls (one more raises `StepLimitError`); `deadline_s` bounds the
whole run, model turns and tools alike: each turn is given the time left, and a tool still
running when it runs out is abandoned (`ToolDeadlineError`). Every error carries the
trajectory so far. Calls of one reply run one after another, in the order the model wrote
them, so a trajectory reads the same on every run.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from promptkit.core.attempts import AttemptLoop, CallSpec
from promptkit.core.results import CallResult, ToolCall
from promptkit.core.structured import strict_loads
from promptkit.core.trajectory import ToolStep, Trajectory
from promptkit.core.types import Message
from promptkit.core.validation import validate
from promptkit.errors import (
    DeadlineExceededError,
    ModelCallError,
    StepLimitError,
    ToolDeadlineError,
    ToolFailedError,
    ToolLoopError,
)

__all__ = ["ToolErrors", "ToolFunction", "ToolRunSpec", "run_tool_loop"]

ToolFunction = Callable[..., Any]
"""A tool's implementation, sync or async, called with the arguments as keywords."""

ToolErrors = Literal["return", "raise"]
"""What a tool's exception does: go back to the model as the tool's result, or end the run."""

E = TypeVar("E", bound=ToolLoopError)


@dataclass(frozen=True)
class ToolRunSpec:
    """One tool run, checked: the first turn's call (offering `call.tools`), the function
    of each tool, the step limit, the run's deadline and what a tool's exception does."""

    call: CallSpec
    functions: Mapping[str, ToolFunction]
    max_steps: int = 10
    deadline_s: float | None = None
    tool_errors: ToolErrors = "return"


async def run_tool_loop(attempts: AttemptLoop, spec: ToolRunSpec) -> Trajectory:
    """Run the model and its tools until it answers; the trajectory with the answer."""
    return await _ToolRun(attempts, spec).run()


@dataclass
class _ToolRun:
    """The state of one tool run in progress."""

    attempts: AttemptLoop
    spec: ToolRunSpec
    messages: list[Message] = field(default_factory=list)
    steps: list[ToolStep] = field(default_factory=list)
    turns: list[CallResult] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    async def run(self) -> Trajectory:
        self.messages = list(self.spec.call.messages)
        while True:
            result = await self._turn()
            if not self._calls_tools(result):
                return self.trajectory(final=result)
            self.messages.append(_assistant_message(result))
            for call in result.tool_calls:
                step = await self._step(call)
                self.messages.append({"role": "tool", "tool_call_id": call.id,
                                      "content": step.content})

    def trajectory(self, final: CallResult | None = None) -> Trajectory:
        return Trajectory(steps=tuple(self.steps), turns=tuple(self.turns),
                          messages=tuple(self.messages),
                          latency_s=time.monotonic() - self.started, final=final)

    def remaining(self) -> float | None:
        deadline = self.spec.deadline_s
        return None if deadline is None else deadline - (time.monotonic() - self.started)

    def error(self, cls: type[E], message: str, **extra: Any) -> E:
        return cls(message, trajectory=self.trajectory(), **extra)

    def _deadline_error(self, during: str) -> ToolDeadlineError:
        return self.error(ToolDeadlineError, f"the tool run's deadline of "
                          f"{self.spec.deadline_s:g} s passed {during} (after "
                          f"{len(self.steps)} step(s), {len(self.turns)} turn(s))")

    def _calls_tools(self, result: CallResult) -> bool:
        """A reply calling anything but the output's own tool asks for tools to run."""
        output = self.spec.call.output
        answer = output.tool.name if output.mode == "tool" and output.tool else None
        return any(call.name != answer for call in result.tool_calls)

    async def _turn(self) -> CallResult:
        """One model turn through the attempt loop, within the time the run has left."""
        remaining, per_call = self.remaining(), self.spec.call.deadline_s
        if remaining is not None and remaining <= 0:
            raise self._deadline_error("before the next model turn")
        bound_by_run = remaining is not None and remaining < (per_call or math.inf)
        metadata = {**self.spec.call.metadata, "tool_run": self.run_id, "turn": len(self.turns)}
        spec = replace(self.spec.call, messages=tuple(self.messages), metadata=metadata,
                       deadline_s=remaining if bound_by_run else per_call)
        try:
            result = await self.attempts.run(spec)
        except DeadlineExceededError as exc:
            if bound_by_run:
                raise self._deadline_error("during a model turn") from exc
            exc.trajectory = self.trajectory()
            raise
        except ModelCallError as exc:
            exc.trajectory = self.trajectory()
            raise
        self.turns.append(result)
        return result

    async def _step(self, call: ToolCall) -> ToolStep:
        """Check one call and run its tool; the step, recorded."""
        if len(self.steps) >= self.spec.max_steps:
            raise self.error(StepLimitError, f"the model asked for step {len(self.steps) + 1} "
                             f"({call.name}) past max_steps={self.spec.max_steps}")
        started = time.monotonic()
        arguments, problem = self._arguments(call)
        if problem is None:
            value, problem = await self._execute(call, arguments, started)
        else:
            value = None
        step = ToolStep(
            step=len(self.steps) + 1, tool=call.name, arguments=arguments, result=value,
            error=problem, content=_content(value, problem),
            duration_s=time.monotonic() - started, call_id=call.id, turn=len(self.turns) - 1,
        )  # fmt: skip
        self.steps.append(step)
        return step

    def _arguments(self, call: ToolCall) -> tuple[Any, str | None]:
        """The call's arguments, and what is wrong with the call (None when it may run)."""
        specs = {tool.name: tool for tool in self.spec.call.tools}
        try:
            arguments = strict_loads(call.arguments) if call.arguments.strip() else {}
        except ValueError as exc:
            return call.arguments, f"the arguments are not valid JSON: {exc}"
        if call.name not in specs:
            return arguments, _unknown_tool(call.name, specs, self.spec.call)
        if not isinstance(arguments, dict):
            return arguments, "the arguments must be a JSON object"
        errors = validate(arguments, specs[call.name].parameters)
        if errors:
            return arguments, ("the arguments do not match the tool's JSON Schema: "
                               + "; ".join(errors))
        return arguments, None

    async def _execute(self, call: ToolCall, arguments: dict[str, Any],
                       started: float) -> tuple[Any, str | None]:
        """Run the tool within the time left; its value, or its exception as an error."""
        timeout = asyncio.timeout(self.remaining())
        try:
            async with timeout:
                return await _invoke(self.spec.functions[call.name], arguments), None
        except TimeoutError as exc:
            if not timeout.expired():
                return None, _describe(exc)
            self.steps.append(_cut(call, arguments, len(self.steps) + 1, started,
                                   len(self.turns) - 1))
            raise self._deadline_error(f"while {call.name} ran") from None
        except Exception as exc:
            if self.spec.tool_errors == "raise":
                step = len(self.steps) + 1
                raise self.error(ToolFailedError, f"step {step}: {call.name} raised "
                                 f"{_describe(exc)}", step=step) from exc
            return None, f"the tool raised {_describe(exc)}"


async def _invoke(function: ToolFunction, arguments: dict[str, Any]) -> Any:
    """Await an async tool; run a sync one in a worker thread, so the deadline can leave it."""
    if inspect.iscoroutinefunction(function):
        return await function(**arguments)
    value = await asyncio.to_thread(function, **arguments)
    return await value if inspect.isawaitable(value) else value


def _assistant_message(result: CallResult) -> Message:
    calls = [{"id": call.id, "type": "function",
              "function": {"name": call.name, "arguments": call.arguments}}
             for call in result.tool_calls]
    # "" rather than None: llama.cpp's server refuses a null content (see reask_messages).
    return {"role": "assistant", "content": result.text or "", "tool_calls": calls}


def _content(value: Any, problem: str | None) -> str:
    """What the model is sent back: the value (text as it is, anything else as JSON), or
    `{"error": ...}`, a marker the model cannot mistake for a result."""
    if problem is not None:
        return json.dumps({"error": problem}, ensure_ascii=False)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _unknown_tool(name: str, specs: Mapping[str, Any], call: CallSpec) -> str:
    if call.output.mode == "tool" and call.output.tool and name == call.output.tool.name:
        return (f"`{name}` gives the final answer: call it on its own, after the results "
                "of the other tools")
    return f"there is no tool named {name!r}; the tools are: {', '.join(sorted(specs))}"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _cut(call: ToolCall, arguments: Any, number: int, started: float, turn: int) -> ToolStep:
    problem = "cut by the tool run's deadline"
    return ToolStep(number, call.name, arguments, None, problem, _content(None, problem),
                    time.monotonic() - started, call.id, turn)
