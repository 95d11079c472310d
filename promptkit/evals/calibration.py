"""How far a judge can be trusted: its scores compared with human labels.

Human labels live beside the suite, one JSON object per line in `<suite>.labels.jsonl`:

    {"case": "refund-late", "output": "Sorry! Your refund is on its way.", "human": 5}
    {"case": "refund-late", "output": "Read the FAQ.", "human": 1, "judge": "apology"}

(`judge` names the judge when the suite has several). `promptkit judge calibrate SUITE` has
each judge score every labelled output (recorded and replayed like any call) and reports:

- **agreement on the verdict**: Cohen's kappa of pass/fail (judge score >= the threshold vs
  human score >= the same threshold), the figure a gate relies on; below 0.4 (fair or worse,
  Landis & Koch 1977) the judge is flagged as disagreeing with the humans;
- **agreement on the scores**: quadratic-weighted kappa on the scale, and Spearman's rank
  correlation;
- **bias**: the judge's mean score minus the humans';
- **the best threshold**: the judge threshold whose verdicts best match the humans' (kappa).

The results go to `<suite>.calibration.json`, which the gate report reads.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promptkit.errors import SuiteFormatError
from promptkit.evals.judges import JudgeSpec
from promptkit.files import write_atomically

__all__ = [
    "DISAGREES_BELOW",
    "Calibration",
    "HumanLabel",
    "JudgeVerdicts",
    "calibrate",
    "calibration_path",
    "cohen_kappa",
    "labels_path",
    "load_calibrations",
    "read_labels",
    "save_calibrations",
    "spearman",
]

DISAGREES_BELOW = 0.4
"""A verdict kappa under this is 'fair' agreement or worse: the judge is flagged."""


@dataclass(frozen=True)
class HumanLabel:
    """A human's score of one output of one case."""

    case: str
    output: Any
    human: float
    judge: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Calibration:
    """One judge against the humans."""

    judge: str
    rubric_hash: str
    n: int
    threshold: float
    verdict_kappa: float
    weighted_kappa: float
    spearman: float | None
    bias: float
    best_threshold: float
    best_kappa: float
    calibrated_at: str

    @property
    def disagrees(self) -> bool:
        return self.verdict_kappa < DISAGREES_BELOW

    def line(self) -> str:
        rho = "n/a" if self.spearman is None else f"{self.spearman:.2f}"
        flag = " (disagrees with the humans)" if self.disagrees else ""
        return (f"judge {self.judge!r}: verdict kappa {self.verdict_kappa:.2f}{flag}, "
                f"weighted kappa {self.weighted_kappa:.2f}, Spearman {rho}, bias "
                f"{self.bias:+.2f}, best threshold {self.best_threshold:g} (kappa "
                f"{self.best_kappa:.2f}; set {self.threshold:g}), {self.n} labels")


@dataclass(frozen=True)
class JudgeVerdicts:
    """A judge's verdicts in one gate, beside its calibration (None: never calibrated;
    `stale`: the rubric or scale changed since)."""

    judge: str
    suite: str
    baseline_passed: int
    baseline_total: int
    candidate_passed: int
    candidate_total: int
    calibration: Calibration | None = None
    stale: bool = False

    @property
    def status(self) -> str:
        if self.calibration is None:
            return "not calibrated"
        if self.stale:
            return "calibration stale (rubric changed)"
        return "disagrees with the humans" if self.calibration.disagrees else "calibrated"

    def line(self) -> str:
        verdicts = (f"passed {self.baseline_passed}/{self.baseline_total} (baseline), "
                    f"{self.candidate_passed}/{self.candidate_total} (candidate)")
        known = self.calibration
        trust = self.status if known is None else (
            f"{self.status}: verdict kappa {known.verdict_kappa:.2f} over {known.n} labels, "
            f"best threshold {known.best_threshold:g} (set {known.threshold:g})")
        flag = "" if self.status == "calibrated" else "⚠ "
        return f"{flag}Judge {self.judge!r} ({self.suite}): {verdicts}; {trust}."


def labels_path(suite_path: Path) -> Path:
    return suite_path.with_name(f"{suite_path.stem}.labels.jsonl")


def calibration_path(suite_path: Path) -> Path:
    return suite_path.with_name(f"{suite_path.stem}.calibration.json")


def read_labels(path: Path) -> list[HumanLabel]:
    """The labels of a file; a bad line is an error naming the file, line and field."""
    labels = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
            labels.append(HumanLabel(case=str(row["case"]), output=row["output"],
                                     human=float(row["human"]), judge=row.get("judge"),
                                     line=number))
        except (ValueError, TypeError, KeyError) as exc:
            raise SuiteFormatError(f"{path}:{number}: a label needs case, output and a "
                                   f"numeric human score ({type(exc).__name__}: {exc})"
                                   ) from None
    return labels


def calibrate(spec: JudgeSpec, pairs: Sequence[tuple[float, float]]) -> Calibration:
    """`pairs` of (judge score, human score) of the same outputs."""
    judge = [j for j, _ in pairs]
    human = [h for _, h in pairs]
    human_pass = [h >= spec.threshold for h in human]
    best = max(_thresholds(spec, judge),
               key=lambda t: (cohen_kappa([j >= t for j in judge], human_pass),
                              -abs(t - spec.threshold)))
    scale = list(range(spec.scale[0], spec.scale[1] + 1))
    return Calibration(
        judge=spec.name, rubric_hash=spec.rubric_hash, n=len(pairs), threshold=spec.threshold,
        verdict_kappa=cohen_kappa([j >= spec.threshold for j in judge], human_pass),
        weighted_kappa=cohen_kappa([round(j) for j in judge], [round(h) for h in human],
                                   categories=scale, quadratic=True),
        spearman=spearman(judge, human),
        bias=statistics.fmean(judge) - statistics.fmean(human),
        best_threshold=best, best_kappa=cohen_kappa([j >= best for j in judge], human_pass),
        calibrated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )  # fmt: skip


def _thresholds(spec: JudgeSpec, judge: Sequence[float]) -> list[float]:
    low, high = spec.scale
    return sorted({float(v) for v in range(low, high + 1)} | set(judge))


def cohen_kappa(a: Sequence[Any], b: Sequence[Any], *, categories: Sequence[Any] | None = None,
                quadratic: bool = False) -> float:
    """Cohen's kappa of two raters over the same items (quadratic weights on ordered
    categories when asked). 1 is perfect agreement, 0 chance; 1.0 when both raters give
    one and the same category throughout, 0.0 when one does and the other does not."""
    cats = list(categories) if categories is not None else sorted(set(a) | set(b), key=str)
    index = {c: i for i, c in enumerate(cats)}
    k, n = len(cats), len(a)
    if n == 0 or k < 2:
        return 1.0
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[index[x]][index[y]] += 1 / n
    rows = [sum(r) for r in observed]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]

    def weight(i: int, j: int) -> float:
        return ((i - j) / (k - 1)) ** 2 if quadratic else float(i != j)

    seen = sum(weight(i, j) * observed[i][j] for i in range(k) for j in range(k))
    chance = sum(weight(i, j) * rows[i] * cols[j] for i in range(k) for j in range(k))
    if chance == 0:
        return 1.0 if seen == 0 else 0.0
    return 1 - seen / chance


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when either is constant."""
    rx, ry = _ranks(x), _ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for position in range(i, j + 1):
            ranks[order[position]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def save_calibrations(path: Path, calibrations: Sequence[Calibration]) -> None:
    known = {c.judge: asdict(c) for c in load_calibrations(path).values()}
    known.update({c.judge: asdict(c) for c in calibrations})
    write_atomically(path, json.dumps(known, indent=2, sort_keys=True) + "\n")


def load_calibrations(path: Path) -> dict[str, Calibration]:
    """The calibrations stored for a suite, by judge name (none when there is no file)."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: Calibration(**fields) for name, fields in data.items()}
