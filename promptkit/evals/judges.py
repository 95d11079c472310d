"""Graded judges: a model scores an output against a rubric on a scale, seeing the case's
input, the output and the expected answer; several samples or several judge models are
pooled by a stated aggregation, and every score keeps the judge's reasoning.

    - judge:
        rubric: The reply apologises and offers a concrete next step.
        name: apology              # how calibration and reports call it (default: the rubric)
        scale: [1, 5]              # integer scores, low to high (default 1..5)
        threshold: 4               # the aggregate must reach it (default: 4 on 1..5)
        samples: 3                 # answers per judge model (default 1)
        models: [judge-a, judge-b] # model configs (default: the run's model)
        aggregate: median          # mean (default), median, min, max or majority

The judge answers in JSON (`reasoning` first, then `score`), so it explains before it
scores. Its calls go through the core like any other: recorded, replayed, priced, logged.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptkit.core.types import Message
from promptkit.hashing import content_hash

__all__ = ["AGGREGATIONS", "JudgeScore", "JudgeSpec", "aggregate", "judge_messages",
           "judge_schema"]

AGGREGATIONS = ("mean", "median", "min", "max", "majority")
"""How several scores of one answer become one."""


@dataclass(frozen=True)
class JudgeSpec:
    """One graded judge, as a suite declares it."""

    rubric: str
    name: str
    scale: tuple[int, int] = (1, 5)
    threshold: float = 4
    samples: int = 1
    models: tuple[str | None, ...] = (None,)
    aggregate: str = "mean"
    temperature: float | None = None

    def __post_init__(self) -> None:
        low, high = self.scale
        if not (isinstance(low, int) and isinstance(high, int)) or low >= high:
            raise ValueError(f"judge {self.name!r}: scale must be two integers, low < high; "
                             f"got {list(self.scale)}")
        if not low <= self.threshold <= high:
            raise ValueError(f"judge {self.name!r}: threshold {self.threshold} is outside the "
                             f"scale {low}..{high}")
        if self.samples < 1:
            raise ValueError(f"judge {self.name!r}: samples must be at least 1")
        if self.aggregate not in AGGREGATIONS:
            raise ValueError(f"judge {self.name!r}: aggregate must be one of "
                             f"{', '.join(AGGREGATIONS)}; got {self.aggregate!r}")

    @property
    def rubric_hash(self) -> str:
        """What a calibration was made against: the rubric and the scale."""
        return content_hash({"rubric": self.rubric, "scale": list(self.scale)})

    @property
    def sample_temperature(self) -> float:
        """0 for one sample; some spread when several are asked of the same model."""
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 else 0.7

    def normalized(self, score: float) -> float:
        """A score on 0..1, for comparisons across scales."""
        low, high = self.scale
        return (score - low) / (high - low)

    @classmethod
    def from_params(cls, rubric: str, *, name: str | None = None,
                    scale: Sequence[int] = (1, 5), threshold: float | None = None,
                    samples: int = 1, models: Sequence[str] | None = None,
                    config: str | None = None, aggregate: str = "mean",
                    temperature: float | None = None) -> JudgeSpec:
        """From a suite's parameters (`config` is one model, `models` several)."""
        if len(scale) != 2:
            raise ValueError(f"judge {name or rubric[:60]!r}: scale must be [low, high]; got "
                             f"{list(scale)}")
        low, high = int(scale[0]), int(scale[1])
        chosen: tuple[str | None, ...] = tuple(models) if models else (config,)
        return cls(rubric=rubric, name=name or rubric.strip().splitlines()[0][:60],
                   scale=(low, high), threshold=high - (high - low) / 4 if threshold is None
                   else float(threshold), samples=int(samples), models=chosen,
                   aggregate=aggregate, temperature=temperature)


@dataclass(frozen=True)
class JudgeScore:
    """One judge answer: the model config, the score and the reasoning before it."""

    model: str
    score: int
    reasoning: str


def judge_schema(spec: JudgeSpec) -> dict[str, Any]:
    low, high = spec.scale
    return {"type": "object", "additionalProperties": False,
            "required": ["reasoning", "score"],
            "properties": {"reasoning": {"type": "string"},
                           "score": {"type": "integer", "minimum": low, "maximum": high}}}


def judge_messages(spec: JudgeSpec, *, output: Any, variables: Mapping[str, Any],
                   expected: Mapping[str, Any] | None) -> list[Message]:
    """What the judge reads: the rubric and scale, the case's input, the expected answer
    (when the case has one) and the answer to grade."""
    low, high = spec.scale
    system = (f"You are an impartial evaluator. Grade the answer against the rubric on a "
              f"scale from {low} (does not meet it at all) to {high} (fully meets it). Use "
              f"the input and, when given, the expected answer as context. Think first, "
              f"briefly, then reply in JSON: {{\"reasoning\": one or two sentences, "
              f"\"score\": an integer from {low} to {high}}}.")
    parts = [f"Rubric:\n{spec.rubric.strip()}", f"Input:\n{_shown(dict(variables))}"]
    if expected:
        parts.append(f"Expected answer:\n{_shown(dict(expected))}")
    parts.append(f"Answer to grade:\n{_shown(output)}")
    return [{"role": "system", "content": system},
            {"role": "user", "content": "\n\n".join(parts)}]


def aggregate(spec: JudgeSpec, scores: Sequence[int]) -> float:
    """The scores of one answer as one number on the judge's scale (`majority`: the score
    given most often, the lower one on a tie)."""
    values = [float(s) for s in scores]
    if spec.aggregate == "majority":
        return min(statistics.multimode(values))
    if spec.aggregate == "median":
        return float(statistics.median(values))
    if spec.aggregate == "min":
        return min(values)
    if spec.aggregate == "max":
        return max(values)
    return statistics.fmean(values)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=None, default=str)
