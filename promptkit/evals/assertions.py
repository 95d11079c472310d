"""Assertions on one model output: each says what was expected, what came, and where."""

from __future__ import annotations

import copy
import importlib
import json
import re
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from promptkit.core.embeddings import LOCAL, Vector, cosine
from promptkit.core.validation import schema_problem, schema_validator
from promptkit.errors import PromptkitError
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
    """What one model call produced, as assertions see it."""

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


class ToolCalled(Assertion):
    kind = "tool_called"

    def __init__(self, name: str, args: Mapping[str, Any] | None = None) -> None:
        self.name, self.args = name, dict(args or {})

    def check(self, obs: Observation) -> Outcome:
        calls = [c for c in obs.tool_calls if c.get("name") == self.name]
        if not calls:
            seen = [c.get("name") for c in obs.tool_calls] or "no tool call"
            return self.fail(f"expected a call to {self.name!r}, got {seen}",
                             expected=self.name, actual=seen)
        arguments = calls[0].get("arguments") or {}
        wrong = {k: arguments.get(k, MISSING) for k, v in self.args.items()
                 if arguments.get(k, MISSING) != v}
        if not wrong:
            return self.ok(expected=self.args, actual=arguments)
        diffs = ", ".join(f"{k}: expected {_short(self.args[k])}, got "
                          f"{'nothing' if v is MISSING else _short(v)}" for k, v in wrong.items())
        return self.fail(f"{self.name} called with other arguments ({diffs})",
                         expected=self.args, actual=arguments)


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
        self.function = _import_function(function)

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


def _import_function(reference: str) -> Callable[..., Any]:
    module, _, attribute = reference.partition(":")
    if not module or not attribute:
        raise ValueError(f"python assertion needs 'module:function', got {reference!r}")
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"python: cannot import {module!r}: {exc} (modules are looked up "
                         "from the project root, then sys.path)") from None
    function = getattr(loaded, attribute, None)
    if not callable(function):
        raise ValueError(f"python: module {module!r} has no function {attribute!r}")
    return function


@contextmanager
def _importable_from(root: Path | None) -> Iterator[None]:
    """The project root first on `sys.path` while a check's module is imported, so
    `checks:max_len` finds the project's `checks.py` as pytest finds a root conftest; the
    path is restored afterwards, and the module stays loaded."""
    entry = str(root) if root is not None else None
    added = entry is not None and entry not in sys.path
    if added:
        sys.path.insert(0, str(entry))
        importlib.invalidate_caches()
    try:
        yield
    finally:
        if added:
            sys.path.remove(str(entry))


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
                Latency, Cost, Python, LLMJudge, Similar)
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
        with _importable_from(root if cls is Python else None):
            return cls(**params)
    except TypeError as exc:
        raise ValueError(f"{kind}: {exc}") from None
