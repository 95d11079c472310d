"""Results as a pandas DataFrame, and the per-version summary printed after a run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from promptkit.errors import UsageError
from promptkit.evals.results import CaseResult
from promptkit.templates.versions import version_key

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
    return pd.DataFrame([r.row() if isinstance(r, CaseResult) else dict(r) for r in results])


def summarize(frame: pd.DataFrame) -> list[VersionSummary]:
    """Per prompt version of a results frame: cases, pass rate, cost, latency percentiles."""
    if frame.empty:
        return []
    summaries = []
    for (prompt, version), group in frame.groupby(["prompt", "version"], sort=False):
        latency = group["latency_s"]
        summaries.append(VersionSummary(
            prompt=str(prompt), version=str(version), cases=len(group),
            passed=int(group["passed"].sum()), cost_usd=float(group["cost_usd"].sum()),
            p50_latency_s=float(latency.quantile(0.5)), p95_latency_s=float(latency.quantile(0.95)),
        ))  # fmt: skip
    return sorted(summaries, key=lambda s: (s.prompt, version_key(s.version)))


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
