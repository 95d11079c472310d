"""The concurrent eval runner: every case × version × repeat through the core, bounded by
one semaphore, each call replayed from (or recorded to) its cassette. A suite with tool
functions runs each case as a tool run (every model turn in the case's cassette), and its
assertions see the trajectory."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from typing import Any

from promptkit.core import AsyncClient, CallResult, Message, OutputSpec, Trajectory, Usage
from promptkit.core.embeddings import Embeddings
from promptkit.core.prompt_call import prompt_options
from promptkit.errors import PromptError, PromptkitError, ToolLoopError
from promptkit.evals.assertions import Graders, Observation, Outcome
from promptkit.evals.case_variables import case_variables
from promptkit.evals.judges import JudgeScore, JudgeSpec, aggregate, judge_messages, judge_schema
from promptkit.evals.results import CaseResult, RunResult
from promptkit.evals.suite import Case, Suite
from promptkit.replay import ReplaySession, repeat_index, replay_tally
from promptkit.replay.keys import current_repeat
from promptkit.templates import Prompt

__all__ = ["EvalItem", "EvalRunner"]

_JUDGE_SAMPLES = 1000
"""Repeat keys of a judge's extra samples: the item's repeat × this + the sample number."""


@dataclass(frozen=True)
class EvalItem:
    """One case of a suite against one prompt version."""

    suite: Suite
    case: Case
    prompt: Prompt
    sample: int = 0

    @cached_property
    def id(self) -> str:
        """Readable and stable: `sentiment@1.2.0::case-17` (`…::case-17#2`: the gate's
        third sample of it)."""
        again = f"#{self.sample}" if self.sample else ""
        return f"{self.prompt.ref}::{self.case.id}{again}"

    def repeat_index(self, repeat: int) -> int:
        """The recording key of a repeat: samples after the first follow the suite's
        repeats, so every answer of every sample has its own recording."""
        return self.sample * self.suite.repeat + repeat

    @cached_property
    def variables(self) -> dict[str, Any]:
        """The case's variables as this version reads them (`case_variables`); raises an
        InputValidationError naming the dataset row and column of a value it cannot read."""
        case = self.case
        return case_variables(case.variables, case.origin, self.prompt, self.suite.path.parent)

    @property
    def cassette(self) -> str:
        """Where this item's recordings live, relative to the fixtures root."""
        return f"{self.suite.name}/{self.prompt.ref}/{self.case.id}.json"


class EvalRunner:
    """Runs eval items through an `AsyncClient`, at most `concurrency` calls at a time.

    `model` overrides every prompt's model config (`--prompt-model`); otherwise a prompt's
    own `model`, else `default_model`. With a replay session, each call is answered from
    the item's cassette (or recorded to it, by the session's mode). `embeddings` serve the
    `similar` assertions (none: they fail, saying so).
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        concurrency: int = 8,
        model: str | None = None,
        default_model: str = "default",
        replay: ReplaySession | None = None,
        embeddings: Embeddings | None = None,
    ) -> None:
        self.client, self.concurrency = client, max(1, concurrency)
        self.model, self.default_model, self.replay = model, default_model, replay
        self.embeddings = embeddings
        self.graders = Graders(judge=self._judge,
                               embed=embeddings.embed if embeddings is not None else None)
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    async def run_many(
        self, items: Iterable[EvalItem], on_result: Callable[[CaseResult], None] | None = None
    ) -> list[CaseResult]:
        """Run every item concurrently; results in the order of `items`."""

        async def one(item: EvalItem) -> CaseResult:
            result = await self.run(item)
            if on_result is not None:
                on_result(result)
            return result

        return list(await asyncio.gather(*(one(item) for item in items)))

    async def run(self, item: EvalItem) -> CaseResult:
        """One item: its repeats run concurrently, then aggregate."""
        repeats = range(item.suite.repeat)
        runs = await asyncio.gather(*(self._run_once(item, r) for r in repeats))
        return CaseResult(
            item_id=item.id, suite=item.suite.name, prompt=item.prompt.name,
            version=item.prompt.version, content_hash=item.prompt.content_hash,
            case_id=item.case.id, critical=item.case.critical, threshold=item.suite.threshold,
            runs=tuple(runs), variables=item.case.variables, suite_hash=item.suite.content_hash,
        )  # fmt: skip

    async def _run_once(self, item: EvalItem, repeat: int) -> RunResult:
        async with self._semaphore():
            with self._cassette(item), repeat_index(item.repeat_index(repeat)):
                observation, call = await self._observe(item)
                outcomes = [await a.evaluate(observation, self.graders)
                            for a in item.case.assertions]
        return _run_result(repeat, observation, call, outcomes)

    async def _observe(self, item: EvalItem) -> tuple[Observation, _Outcome]:
        prompt = item.prompt
        output = prompt.meta.output
        try:
            variables = item.variables
            messages = prompt.render(variables)
        except PromptError as exc:
            return Observation(error=str(exc), variables=item.case.variables), exc
        try:
            if item.suite.tools:
                run = await self.run_tools(prompt, messages, item)
                return _tool_observation(run, output, variables, item.case.expect), run
            result = await self.call(prompt, messages, case=item.case.id, model=item.suite.model)
        except PromptkitError as exc:  # a failed call, a replay miss, an unknown config
            trajectory = getattr(exc, "trajectory", None)
            steps = tuple(s.row() for s in trajectory.steps) if trajectory else ()
            return Observation(error=f"{type(exc).__name__}: {exc}", schema=output.json_schema,
                               tool_calls=steps, variables=variables,
                               expected=item.case.expect), exc
        return _observation(result, output, variables, item.case.expect), result

    async def call(self, prompt: Prompt, messages: list[Message], *, case: str | None = None,
                   model: str | None = None) -> CallResult:
        """Call the model with a prompt's settings (its output spec, temperature, limits).
        A call answered wholly from recordings reports the latency they recorded."""
        options = prompt_options(prompt, config=self.model or model,
                                 default_config=self.default_model, metadata={"case": case})
        with replay_tally() as replayed:
            result = await self.client.call(messages, **options)
        recorded = replayed.recorded_latency_s
        return result if recorded is None else replace(result, latency_s=recorded)

    async def run_tools(self, prompt: Prompt, messages: list[Message],
                        item: EvalItem) -> Trajectory:
        """A tool run of a prompt with the suite's functions. A run answered wholly from
        recordings reports the latency they recorded, plus the time its tools took."""
        options = prompt_options(prompt, config=self.model or item.suite.model,
                                 default_config=self.default_model,
                                 metadata={"case": item.case.id})
        with replay_tally() as replayed:
            run = await self.client.run_tools(messages, item.suite.tools,
                                              max_steps=item.suite.max_steps, **options)
        recorded = replayed.recorded_latency_s
        if recorded is None:
            return run
        return replace(run, latency_s=recorded + sum(s.duration_s for s in run.steps))

    async def _judge(self, spec: JudgeSpec, obs: Observation) -> Outcome:
        """Grade `obs` with every judge model, `spec.samples` times each, through the same
        core (and cassette); the aggregate must reach the threshold."""
        scores = await self.judge_scores(spec, output=_judged(obs), variables=obs.variables,
                                         expected=obs.expected)
        value = aggregate(spec, [s.score for s in scores])
        passed = value >= spec.threshold
        shown = ", ".join(f"{s.score} ({s.model})" for s in scores)
        message = "" if passed else (
            f"judge {spec.name!r}: {value:g} on {spec.scale[0]}..{spec.scale[1]}, below "
            f"{spec.threshold:g} ({spec.aggregate} of {shown}): {scores[0].reasoning}")
        return Outcome("judge", passed, message, path=spec.name, expected=spec.threshold,
                       actual=[asdict(s) for s in scores], score=spec.normalized(value))

    async def judge_scores(self, spec: JudgeSpec, *, output: Any,
                           variables: Mapping[str, Any],
                           expected: Mapping[str, Any] | None) -> list[JudgeScore]:
        """Every score of one answer (each model × each sample), with its reasoning."""
        messages = judge_messages(spec, output=output, variables=variables, expected=expected)
        asks = [(model or self.model or self.default_model, sample)
                for model in spec.models for sample in range(spec.samples)]
        return list(await asyncio.gather(*(self._one_score(spec, messages, model, sample)
                                           for model, sample in asks)))

    async def _one_score(self, spec: JudgeSpec, messages: list[Message], model: str,
                         sample: int) -> JudgeScore:
        """One judge answer; each sample gets its own recording (its own repeat key)."""
        with repeat_index(current_repeat() * _JUDGE_SAMPLES + sample) if sample else \
                contextlib.nullcontext():
            verdict = await self.client.call(
                messages, config=model, temperature=spec.sample_temperature,
                output=OutputSpec(mode="json_schema", schema=judge_schema(spec)),
                metadata={"judge": spec.name})
        return JudgeScore(model, int(verdict.output["score"]), str(verdict.output["reasoning"]))

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores[loop] = asyncio.Semaphore(self.concurrency)
        return self._semaphores[loop]

    @contextlib.contextmanager
    def _cassette(self, item: EvalItem) -> Iterator[None]:
        if self.replay is None:
            yield
            return
        with self.replay.cassette(item.cassette):
            yield


_Outcome = CallResult | Trajectory | Exception
"""What an item's run ended in: a call's result, a tool run's trajectory, or the error."""


def _judged(obs: Observation) -> Any:
    return obs.output if obs.output is not None else obs.text


def _observation(result: CallResult, output: OutputSpec,
                 variables: Mapping[str, Any], expected: Mapping[str, Any]) -> Observation:
    """A call's observation: with tools offered, the calls of its reply; in tool mode, the
    output's tool called with the output."""
    tool_calls: tuple[dict[str, Any], ...] = tuple(
        {"name": call.name, "arguments": _parsed(call.arguments)} for call in result.tool_calls
        if result.output is None)
    if output.mode == "tool" and output.tool is not None:
        tool_calls = ({"name": output.tool.name, "arguments": result.output},)
    parsed = result.output if output.structured else None
    return Observation(output=parsed, text=result.text, tool_calls=tool_calls,
                       latency_s=result.latency_s, cost_usd=result.cost_usd,
                       schema=output.json_schema,
                       variables=variables, expected=expected)


def _tool_observation(run: Trajectory, output: OutputSpec, variables: Mapping[str, Any],
                      expected: Mapping[str, Any]) -> Observation:
    """A tool run's observation: its final answer, and every step as a tool call."""
    return Observation(output=run.output if output.structured else None, text=run.text,
                       tool_calls=tuple(step.row() for step in run.steps),
                       latency_s=run.latency_s, cost_usd=run.cost_usd,
                       schema=output.json_schema, variables=variables, expected=expected)


def _parsed(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return arguments


def _run_result(repeat: int, obs: Observation, call: _Outcome,
                outcomes: Sequence[Outcome]) -> RunResult:
    ok = obs.error is None and all(o.passed for o in outcomes)
    usage, attempts = _spent(call)
    common = {"repeat": repeat, "passed": ok, "outcomes": tuple(outcomes), "output": obs.output,
              "text": obs.text, "latency_s": obs.latency_s, "cost_usd": obs.cost_usd,
              "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
              "attempts": attempts}
    if isinstance(call, Exception):
        return RunResult(**common, error=obs.error, error_type=type(call).__name__)
    return RunResult(**common)


def _spent(call: _Outcome) -> tuple[Usage, int]:
    """The tokens and HTTP requests an item's run took, failed or not."""
    if isinstance(call, ToolLoopError) and call.trajectory is not None:
        call = call.trajectory
    if isinstance(call, Trajectory):
        return call.usage, len(call.attempts)
    if isinstance(call, CallResult):
        return call.total_usage, len(call.attempts)
    return getattr(call, "usage", None) or Usage(), len(getattr(call, "attempts", ()))
