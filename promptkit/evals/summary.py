"""The per-version summary printed after a run, and results as a pandas DataFrame.

The summary is computed from the rows themselves, so a run that writes no results file
never imports pandas (a third of a second, and tens of megabytes)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptkit.errors import UsageError
from promptkit.evals.results import CaseResult
from promptkit.templates.versions import version_key

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["VersionSummary", "results_frame", "summarize", "write_frame"]


@dataclass(frozen=True)
class VersionSummary:
    prompt: str
    version: str
    cases: int
    passed: int
    cost_usd: float
    p50_latency_s: float
    p95_latency_s: float

    @property
    def pass_rate(self) -> float:
        return self.passed / self.cases if self.cases else 0.0

    def line(self) -> str:
        return (f"{self.prompt + '@' + self.version:<26} {self.cases:>5} cases  "
                f"{self.pass_rate:>7.1%} passed  ${self.cost_usd:.4f}  "
                f"p50 {self.p50_latency_s * 1000:.0f} ms  p95 {self.p95_latency_s * 1000:.0f} ms")


def results_frame(results: Iterable[CaseResult | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per case × version (from results, or rows as `CaseResult.row()` gives them)."""
    import pandas as pd

    return pd.DataFrame(_rows(results))


def summarize(results: Iterable[CaseResult | Mapping[str, Any]]) -> list[VersionSummary]:
    """Per prompt version of the results (or their rows): cases, pass rate, cost, latency
    percentiles (interpolated linearly, as pandas and numpy do by default)."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in _rows(results):
        groups.setdefault((str(row["prompt"]), str(row["version"])), []).append(row)
    summaries = []
    for (prompt, version), rows in groups.items():
        latency = sorted(float(r["latency_s"]) for r in rows)
        summaries.append(VersionSummary(
            prompt=prompt, version=version, cases=len(rows),
            passed=sum(bool(r["passed"]) for r in rows),
            cost_usd=float(sum(r["cost_usd"] for r in rows)),
            p50_latency_s=_quantile(latency, 0.5), p95_latency_s=_quantile(latency, 0.95),
        ))  # fmt: skip
    return sorted(summaries, key=lambda s: (s.prompt, version_key(s.version)))


def _rows(results: Iterable[CaseResult | Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r.row() if isinstance(r, CaseResult) else r for r in results]


def _quantile(ordered: list[float], q: float) -> float:
    """The `q` quantile of sorted values, linearly interpolated between the closest ranks."""
    position = q * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a results frame as .csv, .json or .jsonl."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".json":
        frame.to_json(path, orient="records", indent=2, force_ascii=False)
    else:
        raise UsageError(f"--prompt-results {path}: use a .csv, .json or .jsonl file")
