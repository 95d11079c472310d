"""Stored eval results as the pages read them: per-version summaries of the newest run, and
the cases of several versions side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from promptkit.evals.store import RESULTS, RUNS

__all__ = ["CaseRow", "Cell", "Summary", "compare_cases", "one_result", "summaries"]


@dataclass(frozen=True)
class Summary:
    """One version's newest run of one suite."""

    prompt: str
    suite: str
    version: str
    run_id: str
    started_at: datetime
    cases: int
    passed: int
    cost_usd: float
    latency_s: float

    @property
    def pass_rate(self) -> float:
        return self.passed / self.cases if self.cases else 0.0


@dataclass(frozen=True)
class Cell:
    """One version's result of one case."""

    result_id: int
    passed: bool
    output: str
    error: str | None


@dataclass(frozen=True)
class CaseRow:
    """One case across versions (None where a version's run lacks it)."""

    case_id: str
    cells: list[Cell | None]

    @property
    def flipped(self) -> bool:
        return len({c.passed for c in self.cells if c is not None}) > 1

    @property
    def failed(self) -> bool:
        return any(c is not None and not c.passed for c in self.cells)

    def differs(self, index: int) -> bool:
        """Whether cell `index`'s output differs from the first version's."""
        first, cell = self.cells[0], self.cells[index]
        return first is not None and cell is not None and cell.output != first.output


def summaries(engine: Engine, prompt: str | None = None) -> list[Summary]:
    """Per prompt, suite and version: its newest run's pass rate, cost and mean latency."""
    r = RESULTS.c
    query = (sa.select(r.prompt, r.suite, r.version, r.run_id, RUNS.c.started_at,
                       sa.func.count().label("cases"),
                       sa.func.sum(sa.case((r.passed, 1), else_=0)).label("passed"),
                       sa.func.sum(r.cost_usd).label("cost"),
                       sa.func.avg(r.latency_s).label("latency"))
             .join(RUNS, RUNS.c.run_id == r.run_id)
             .group_by(r.prompt, r.suite, r.version, r.run_id, RUNS.c.started_at)
             .order_by(RUNS.c.started_at.desc()))
    if prompt is not None:
        query = query.where(r.prompt == prompt)
    newest: dict[tuple[str, str, str], Summary] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            newest.setdefault((row.prompt, row.suite, row.version), Summary(
                row.prompt, row.suite, row.version, row.run_id, row.started_at, row.cases,
                int(row.passed or 0), float(row.cost or 0), float(row.latency or 0)))
    return sorted(newest.values(), key=lambda s: (s.prompt, s.suite, _version_key(s.version)))


def compare_cases(engine: Engine, chosen: list[Summary]) -> list[CaseRow]:
    """Every case of the chosen versions' runs, one row each, in case-id order."""
    r = RESULTS.c
    pairs = [sa.and_(r.run_id == s.run_id, r.version == s.version) for s in chosen]
    if not pairs:
        return []
    query = sa.select(r.id, r.run_id, r.version, r.case_id, r.passed, r.output,
                      r.output_text, r.error).where(r.suite == chosen[0].suite,
                                                    r.prompt == chosen[0].prompt,
                                                    sa.or_(*pairs))
    cells: dict[str, list[Cell | None]] = {}
    column = {(s.run_id, s.version): i for i, s in enumerate(chosen)}
    with engine.connect() as conn:
        for row in conn.execute(query):
            found = cells.setdefault(row.case_id, [None] * len(chosen))
            found[column[(row.run_id, row.version)]] = Cell(
                row.id, bool(row.passed), _output(row.output, row.output_text), row.error)
    return [CaseRow(case_id, found) for case_id, found in sorted(cells.items())]


def one_result(engine: Engine, result_id: int) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(RESULTS).where(RESULTS.c.id == result_id)).first()


def _output(stored: str | None, text: str | None) -> str:
    value = json.loads(stored) if stored else None
    if value is None:
        return text or ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           sort_keys=True)


def _version_key(version: str) -> tuple[Any, ...]:
    from packaging.version import InvalidVersion, Version

    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)
