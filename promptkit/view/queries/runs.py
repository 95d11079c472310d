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


def compare_cases(engine: Engine, chosen: list[Summary], *, show: str = "all",
                  search: str = "", limit: int = 200) -> tuple[list[CaseRow], int]:
    """The cases of the chosen versions' runs in case-id order, one row each: only those
    that failed somewhere (`show="failures"`) or flipped (`"flips"`), only those whose id or
    output holds `search`; the first `limit` rows and how many matched. The filtering runs
    in the database, so only the rows shown are read."""
    if not chosen:
        return [], 0
    r = RESULTS.c
    mine = [r.suite == chosen[0].suite, r.prompt == chosen[0].prompt,
            sa.or_(*(sa.and_(r.run_id == s.run_id, r.version == s.version) for s in chosen))]
    with engine.connect() as conn:
        matched: list[str] = list(conn.scalars(_matching(mine, show, search)))
        shown = matched[:limit]
        rows: Any = conn.execute(sa.select(r.id, r.run_id, r.version, r.case_id, r.passed, r.output,
                                      r.output_text, r.error)
                            .where(*mine, r.case_id.in_(shown))) if shown else []
        cells: dict[str, list[Cell | None]] = {case: [None] * len(chosen) for case in shown}
        column = {(s.run_id, s.version): i for i, s in enumerate(chosen)}
        for row in rows:
            cells[row.case_id][column[(row.run_id, row.version)]] = Cell(
                row.id, bool(row.passed), _output(row.output, row.output_text), row.error)
    return [CaseRow(case, found) for case, found in cells.items()], len(matched)


def _matching(mine: list[Any], show: str, search: str) -> sa.Select[Any]:
    r = RESULTS.c
    passed = sa.case((r.passed, 1), else_=0)
    query = sa.select(r.case_id).where(*mine).group_by(r.case_id).order_by(r.case_id)
    if show == "failures":
        query = query.having(sa.func.min(passed) == 0)
    elif show == "flips":
        query = query.having(sa.func.min(passed) != sa.func.max(passed))
    needle = search.strip().lower()
    if needle:
        pattern = f"%{needle.replace(chr(92), chr(92) * 2).replace('%', chr(92) + '%')}%"
        pattern = pattern.replace("_", chr(92) + "_")
        found = sa.or_(sa.func.lower(r.case_id).like(pattern, escape=chr(92)),
                       sa.func.lower(sa.func.coalesce(r.output, "") + " "
                                     + sa.func.coalesce(r.output_text, ""))
                       .like(pattern, escape=chr(92)))
        query = query.having(sa.func.max(sa.case((found, 1), else_=0)) == 1)
    return query


def one_result(engine: Engine, result_id: int) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(RESULTS).where(RESULTS.c.id == result_id)).first()


def _output(stored: str | None, text: str | None) -> str:
    """The output as stored (JSON text; not parsed: thousands of cells are compared), or
    the model's text when it has no parsed output."""
    if stored in (None, "", "null"):
        return text or ""
    return stored if not stored.startswith('"') else str(json.loads(stored))


def _version_key(version: str) -> tuple[Any, ...]:
    from packaging.version import InvalidVersion, Version

    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)
