"""Assertions on one model output (and, for a tool run, its trajectory): each says what was
expected, what came, and where."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from promptkit.core.embeddings import LOCAL, Vector, cosine
from promptkit.core.validation import schema_problem, schema_validator
from promptkit.errors import PromptkitError
from promptkit.evals.imports import import_object, importable_from
from promptkit.evals.json_path import MISSING, lookup
from promptkit.evals.judges import JudgeSpec

__all__ = [
    "ASSERTIONS",
    "LOCAL_SIMILARITY_THRESHOLD",
    "Assertion",
    "Embed",
    "Graders",
    "Judge",
    "Observation",
    "Outcome",
    "Similar",
    "build_assertion",
]

Judge = Callable[[JudgeSpec, "Observation"], Awaitable["Outcome"]]
"""Grades an observation with a model as a judge spec says (supplied by the runner)."""

Embed = Callable[[str, Sequence[str]], Awaitable[list[Vector]]]
"""Embeds texts with the named embedder, `local` or a model config (supplied by the runner,
cached)."""

LOCAL_SIMILARITY_THRESHOLD = 0.85
"""`similar`'s default with the local embedder (multilingual-e5-small): paraphrases score
0.89-0.98 with it, unrelated sentences 0.73-0.82 (docs/evals.md has the figures)."""


@dataclass(frozen=True)
class Graders:
    """What the assertions that need a model grade with, supplied by the runner once per
    run: a judge for `judge`, embeddings for `similar`."""

    judge: Judge | None = None
    embed: Embed | None = None


@dataclass(frozen=True)
class Observation:
    """What one model call (or tool run) produced, as assertions see it. `tool_calls` are
    the calls made, in order, each `{"name", "arguments"}`; a tool run's also have `step`,
    `result` and `error`: its whole trajectory."""

    output: Any = None
    text: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    latency_s: float = 0.0
    cost_usd: float = 0.0
    error: str | None = None
    schema: dict[str, Any] | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    expected: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """One assertion's verdict; `message` explains a failure."""

    kind: str
    passed: bool
    message: str = ""
    path: str | None = None
    expected: Any = None
    actual: Any = None
    score: float | None = None


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Assertion:
    """Base: subclasses set `kind` and implement `check` (or `evaluate` when async)."""

    kind: ClassVar[str] = ""

    def check(self, obs: Observation) -> Outcome:
        raise NotImplementedError

    async def evaluate(self, obs: Observation, graders: Graders) -> Outcome:
        return self.check(obs)

    def fail(self, message: str, **details: Any) -> Outcome:
        return Outcome(self.kind, False, message, **details)

    def ok(self, **details: Any) -> Outcome:
        return Outcome(self.kind, True, **details)


class _OnValue(Assertion):
    """An assertion about the value at a path of the output (the whole text without one)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path

    def value(self, obs: Observation) -> Any:
        if obs.error is not None:
            return MISSING
        return lookup(obs.output if obs.output is not None else obs.text, self.path)

    def where(self) -> str:
        return f" at {self.path}" if self.path else ""

    def missing(self, obs: Observation, expected: Any) -> Outcome:
        why = f"no output ({obs.error})" if obs.error else f"nothing at {self.path}"
        return self.fail(f"expected {_short(expected)}{self.where()}, got {why}",
                         path=self.path, expected=expected)


class Equals(_OnValue):
    kind = "equals"

    def __init__(self, value: Any, path: str | None = None) -> None:
        super().__init__(path)
        self.expected = value

    def check(self, obs: Observation) -> Outcome:
        actual = self.value(obs)
        if actual is MISSING:
            return self.missing(obs, self.expected)
        details = {"path": self.path, "expected": self.expected, "actual": actual}
        if actual == self.expected:
            return self.ok(**details)
        return self.fail(f"expected {_short(self.expected)}{self.where()}, got {_short(actual)}",
                         **details)


class Contains(_OnValue):
    kind = "contains"
    negate = False

    def __init__(self, value: str, path: str | None = None, ignore_case: bool = False) -> None:
        super().__init__(path)
        self.expected, self.ignore_case = value, ignore_case

    def check(self, obs: Observation) -> Outcome:
        actual = self.value(obs)
        if actual is MISSING:
            return self.missing(obs, self.expected)
        haystack, needle = str(actual), str(self.expected)
        if self.ignore_case:
            haystack, needle = haystack.lower(), needle.lower()
        details = {"path": self.path, "expected": self.expected, "actual": actual}
        if (needle in haystack) != self.negate:
            return self.ok(**details)
        verb = "not to contain" if self.negate else "to contain"
        return self.fail(f"expected{self.where()} {verb} {_short(self.expected)}, "
                         f"got {_short(actual)}", **details)


class NotContains(Contains):
    kind = "not_contains"
    negate = True


class Regex(_OnValue):
    kind = "regex"

    def __init__(self, pattern: str, path: str | None = None) -> None:
        super().__init__(path)
        self.pattern = re.compile(pattern)

    def check(self, obs: Observation) -> Outcome:
        actual = self.value(obs)
        if actual is MISSING:
            return self.missing(obs, self.pattern.pattern)
        details = {"path": self.path, "expected": self.pattern.pattern, "actual": actual}
        if self.pattern.search(str(actual)):
            return self.ok(**details)
        return self.fail(f"expected{self.where()} a match for /{self.pattern.pattern}/, "
                         f"got {_short(actual)}", **details)


class Range(_OnValue):
    kind = "range"

    def __init__(self, path: str | None = None, min: float | None = None,
                 max: float | None = None) -> None:
        super().__init__(path)
        self.low, self.high = min, max

    def check(self, obs: Observation) -> Outcome:
        expected = f"[{self.low if self.low is not None else '-inf'}, " \
                   f"{self.high if self.high is not None else 'inf'}]"
        actual = self.value(obs)
        if actual is MISSING:
            return self.missing(obs, expected)
        details = {"path": self.path, "expected": expected, "actual": actual}
        number = isinstance(actual, int | float) and not isinstance(actual, bool)
        inside = number and (self.low is None or actual >= self.low) and (
            self.high is None or actual <= self.high)
        if inside:
            return self.ok(**details)
        return self.fail(f"expected{self.where()} a number in {expected}, got {_short(actual)}",
                         **details)


class MatchesSchema(Assertion):
    """The output fits a JSON Schema, by the draft its `$schema` names, formats checked."""

    kind = "schema"

    def __init__(self, schema: dict[str, Any] | None = None) -> None:
        if schema is not None and (problem := schema_problem(schema)):
            raise ValueError(f"schema: not a valid JSON Schema: {problem}")
        self.schema = schema

    def check(self, obs: Observation) -> Outcome:
        schema = self.schema or obs.schema
        if obs.error is not None:
            return self.fail(f"no valid output: {obs.error}")
        if schema is None:
            return self.fail("no schema to check against: the prompt declares none")
        errors = sorted(schema_validator(schema).iter_errors(obs.output),
                        key=lambda e: [str(p) for p in e.absolute_path])
        if not errors:
            return self.ok()
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "$"
        return self.fail(f"output breaks the schema at {where}: {first.message}",
                         path=where, actual=obs.output)


def _tool_names(obs: Observation) -> list[Any]:
    return [call.get("name") for call in obs.tool_calls]


class ToolCalled(Assertion):
    """The tool was called with `args` among its arguments: by any call, or by the call at
    `step` (counted from 1)."""

    kind = "tool_called"

    def __init__(self, name: str, args: Mapping[str, Any] | None = None,
                 step: int | None = None) -> None:
        if step is not None and step < 1:
            raise ValueError(f"step counts from 1, got {step}")
        self.name, self.args, self.step = name, dict(args or {}), step

    def check(self, obs: Observation) -> Outcome:
        seen = _tool_names(obs) or "no tool call"
        if self.step is not None:
            calls = [obs.tool_calls[self.step - 1]] if len(obs.tool_calls) >= self.step else []
            calls = [c for c in calls if c.get("name") == self.name]
        else:
            calls = [c for c in obs.tool_calls if c.get("name") == self.name]
        if not calls:
            at = f" at step {self.step}" if self.step is not None else ""
            return self.fail(f"expected a call to {self.name!r}{at}, got {seen}",
                             expected=self.name, actual=seen)
        wrongs = [self._wrong(call.get("arguments") or {}) for call in calls]
        if not all(wrongs):
            return self.ok(expected=self.args, actual=calls[wrongs.index({})].get("arguments"))
        arguments, wrong = calls[0].get("arguments") or {}, wrongs[0]
        diffs = ", ".join(f"{k}: expected {_short(self.args[k])}, got "
                          f"{'nothing' if v is MISSING else _short(v)}" for k, v in wrong.items())
        return self.fail(f"{self.name} called with other arguments ({diffs})",
                         expected=self.args, actual=arguments)

    def _wrong(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        return {k: arguments.get(k, MISSING) for k, v in self.args.items()
                if arguments.get(k, MISSING) != v}


class ToolOrder(Assertion):
    """The tools called, by name: `tools` exactly these in this order; `contains` these in
    this order, others allowed between them; `excludes` none of these."""

    kind = "trajectory"

    def __init__(self, tools: list[str] | None = None, contains: list[str] | None = None,
                 excludes: list[str] | None = None) -> None:
        if tools is None and contains is None and excludes is None:
            raise ValueError("trajectory needs `tools`, `contains` or `excludes`")
        self.tools, self.contains, self.excludes = tools, contains, excludes

    def check(self, obs: Observation) -> Outcome:
        names = _tool_names(obs)
        if self.tools is not None and names != list(self.tools):
            return self.fail(f"expected the tools {self.tools} in this order, got {names}",
                             expected=self.tools, actual=names)
        if self.contains is not None and not _in_order(self.contains, names):
            return self.fail(f"expected the tools {self.contains} in this order (others may "
                             f"come between), got {names}", expected=self.contains,
                             actual=names)
        called = [name for name in self.excludes or () if name in names]
        if called:
            return self.fail(f"expected no call to {called}, got {names}",
                             expected=self.excludes, actual=names)
        return self.ok(actual=names)


def _in_order(wanted: list[str], names: list[Any]) -> bool:
    """Is `wanted` a subsequence of `names`?"""
    rest = iter(names)
    return all(any(name == want for name in rest) for want in wanted)


class StepCount(Assertion):
    """The number of tool calls (steps) is within `min` and `max`."""

    kind = "steps"

    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        if min is None and max is None:
            raise ValueError("steps needs `min` or `max`")
        self.low, self.high = min, max

    def check(self, obs: Observation) -> Outcome:
        count = len(obs.tool_calls)
        expected = f"[{self.low if self.low is not None else 0}, " \
                   f"{self.high if self.high is not None else 'inf'}]"
        if (self.low is None or count >= self.low) and (self.high is None or count <= self.high):
            return self.ok(expected=expected, actual=count)
        return self.fail(f"expected a number of steps in {expected}, got {count}: "
                         f"{_tool_names(obs)}", expected=expected, actual=count)


class Latency(Assertion):
    kind = "latency"

    def __init__(self, max_ms: float) -> None:
        self.max_ms = max_ms

    def check(self, obs: Observation) -> Outcome:
        ms = obs.latency_s * 1000
        details = {"expected": f"<= {self.max_ms} ms", "actual": round(ms, 1)}
        if ms <= self.max_ms:
            return self.ok(**details)
        return self.fail(f"expected latency <= {self.max_ms} ms, got {ms:.0f} ms", **details)


class Cost(Assertion):
    kind = "cost"

    def __init__(self, max_usd: float) -> None:
        self.max_usd = max_usd

    def check(self, obs: Observation) -> Outcome:
        details = {"expected": f"<= ${self.max_usd}", "actual": obs.cost_usd}
        if obs.cost_usd <= self.max_usd:
            return self.ok(**details)
        return self.fail(f"expected cost <= ${self.max_usd}, got ${obs.cost_usd:.6f}", **details)


class Python(Assertion):
    """`module:function(observation, **params)` returning bool, (bool, message) or a score.
    Not called when the call failed: the failure is the outcome (a check written for
    outputs should not have to guard against their absence)."""

    kind = "python"

    def __init__(self, function: str, threshold: float = 0.5, **params: Any) -> None:
        self.name, self.params, self.threshold = function, params, threshold
        self.function = _check_function(function)

    def check(self, obs: Observation) -> Outcome:
        if obs.error is not None:
            return self.fail(f"{self.name} not run: no output ({obs.error})")
        result = self.function(obs, **self.params)
        message = ""
        if isinstance(result, tuple):
            result, message = result
        score = float(result) if not isinstance(result, bool) else None
        passed = bool(result) if score is None else score >= self.threshold
        if passed:
            return self.ok(score=score)
        return self.fail(message or f"{self.name} returned {_short(result)}", score=score)


def _check_function(reference: str) -> Callable[..., Any]:
    """A `python` assertion's function, or a ValueError saying what is wrong."""
    if ":" not in reference:
        raise ValueError(f"python assertion needs 'module:function', got {reference!r}")
    try:
        function = import_object(reference)
    except ImportError as exc:
        text = str(exc).replace(" has no attribute ", " has no function ")
        raise ValueError(f"python: {text}") from None
    if not callable(function):
        raise ValueError(f"python: {reference!r} is not a function")
    return function


class LLMJudge(Assertion):
    """A rubric graded on a scale by one or more judge models through the core (their
    calls are recorded like any other); see `promptkit.evals.judges`."""

    kind = "judge"

    def __init__(self, rubric: str, **options: Any) -> None:
        self.spec = JudgeSpec.from_params(rubric, **options)

    async def evaluate(self, obs: Observation, graders: Graders) -> Outcome:
        if graders.judge is None:
            return self.fail("no judge model available to this run", path=self.spec.name)
        if obs.error is not None:
            return self.fail(f"no output to judge ({obs.error})", path=self.spec.name)
        return await graders.judge(self.spec, obs)


class Similar(_OnValue):
    """Meaning rather than wording: the cosine similarity of the embeddings of the value
    and of the expected text (`value`, else the case's `expect` entry named `expect_key`),
    reported as the outcome's score."""

    kind = "similar"

    def __init__(self, value: str | None = None, path: str | None = None,
                 threshold: float | None = None, embedder: str = LOCAL) -> None:
        super().__init__(path)
        if threshold is None and embedder != LOCAL:
            raise ValueError(f"similar: give a threshold for embedder {embedder!r}; the "
                             f"default ({LOCAL_SIMILARITY_THRESHOLD}) suits the local one only")
        if threshold is not None and not -1 <= threshold <= 1:
            raise ValueError(f"similar: threshold is a cosine, from -1 to 1; got {threshold}")
        self.expected, self.embedder = value, embedder
        self.threshold = LOCAL_SIMILARITY_THRESHOLD if threshold is None else threshold

    @property
    def expect_key(self) -> str | None:
        """Without a `value`: the case's `expect` entry holding the expected text (the path,
        or `output` for the whole output); that entry is then not also an `equals`."""
        return None if self.expected is not None else self.path or "output"

    def expecting(self, value: str) -> Similar:
        """This assertion with the expected text a case gives it."""
        bound = copy.copy(self)
        bound.expected = value
        return bound

    async def evaluate(self, obs: Observation, graders: Graders) -> Outcome:
        expected, actual = self.expected, self.value(obs)
        if expected is None:
            return self.fail(f"no expected text: give `value`, or the case `expect: "
                             f"{{{self.expect_key}: ...}}`")
        if actual is MISSING:
            return self.missing(obs, expected)
        if graders.embed is None:
            return self.fail("no embeddings available to this run", path=self.path)
        text = actual if isinstance(actual, str) else json.dumps(actual, ensure_ascii=False)
        try:
            first, second = await graders.embed(self.embedder, [text, str(expected)])
        except PromptkitError as exc:
            return self.fail(f"similar: {exc}", path=self.path, expected=expected, actual=actual)
        score = round(cosine(first, second), 4)
        details = {"path": self.path, "expected": expected, "actual": actual, "score": score}
        if score >= self.threshold:
            return self.ok(**details)
        return self.fail(f"expected{self.where()} text similar to {_short(expected)} "
                         f"(cosine >= {self.threshold}), got {score:.3f} for {_short(actual)}",
                         **details)


ASSERTIONS: dict[str, type[Assertion]] = {
    cls.kind: cls
    for cls in (Equals, Contains, NotContains, Regex, Range, MatchesSchema, ToolCalled,
                ToolOrder, StepCount, Latency, Cost, Python, LLMJudge, Similar)
}
"""Every assertion type, by the name suites use."""


def build_assertion(spec: Any, *, root: Path | None = None) -> Assertion:
    """An assertion from its suite form: `schema`, or `{equals: {path: x, value: y}}`.
    `root`, the project's folder, is where a `python` assertion's module is found first."""
    params: Any
    if isinstance(spec, str):
        kind, params = spec, {}
    elif isinstance(spec, dict) and len(spec) == 1:
        kind, params = next(iter(spec.items()))
    else:
        raise ValueError(f"an assertion is a type name or a one-key mapping, got {spec!r}")
    cls = ASSERTIONS.get(kind)
    if cls is None:
        raise ValueError(f"unknown assertion {kind!r}; known: {', '.join(sorted(ASSERTIONS))}")
    if cls is Python and isinstance(params, str):
        params = {"function": params}
    if params is None or params is True:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(f"{kind}: expected a mapping of parameters, got {params!r}")
    try:
        with importable_from(root if cls is Python else None):
            return cls(**params)
    except TypeError as exc:
        raise ValueError(f"{kind}: {exc}") from None
