"""Eval runs stored in the project database: every run, every case × version, as DataFrames.

The gate reuses stored results for exactly the same content hash instead of calling
models again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from promptkit.db.engine import write_transaction
from promptkit.db.migrations import add_columns, migration
from promptkit.db.types import UTCDateTime
from promptkit.evals.results import CaseResult
from promptkit.redact import Scrubber
from promptkit.registry import Registry

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RESULTS", "RUNS", "ResultStore", "RunInfo"]

METADATA = sa.MetaData()

RUNS = sa.Table(
    "promptkit_eval_runs", METADATA,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("options", sa.Text(), nullable=False),
    sa.Column("versions", sa.Text(), nullable=False),
    sa.Column("cases", sa.Integer(), nullable=False),
    sa.Column("passed", sa.Integer(), nullable=False),
)  # fmt: skip

RESULTS = sa.Table(
    "promptkit_eval_results", METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36), sa.ForeignKey(RUNS.c.run_id), nullable=False, index=True),
    sa.Column("suite", sa.String(200), nullable=False),
    sa.Column("prompt", sa.String(200), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("content_hash", sa.String(80), nullable=False, index=True),
    sa.Column("case_id", sa.String(200), nullable=False),
    sa.Column("critical", sa.Boolean(), nullable=False),
    sa.Column("passed", sa.Boolean(), nullable=False),
    sa.Column("pass_rate", sa.Float(), nullable=False),
    sa.Column("repeats", sa.Integer(), nullable=False),
    sa.Column("cost_usd", sa.Float(), nullable=False),
    sa.Column("latency_s", sa.Float(), nullable=False),
    sa.Column("input_tokens", sa.Integer(), nullable=False),
    sa.Column("output_tokens", sa.Integer(), nullable=False),
    sa.Column("output", sa.Text()),
    sa.Column("output_text", sa.Text()),
    sa.Column("error", sa.Text()),
    sa.Column("failures", sa.Text(), nullable=False),
    sa.Column("suite_hash", sa.String(80)),
)  # fmt: skip


@migration("evals")
def m001_eval_runs(conn: Connection) -> None:
    METADATA.create_all(conn, tables=[RUNS, RESULTS])


@migration("evals")
def m002_result_text(conn: Connection) -> None:
    """The model's text beside the parsed output: a text-mode prompt has only the text.
    (A database m001 made today has the column already.)"""
    add_columns(conn, RESULTS, ("output_text",))


@migration("evals")
def m003_suite_hash(conn: Connection) -> None:
    """The suite's content hash beside each result: the gate reuses a stored result only
    for the same suite, assertions and dataset. (A database m001 made today has it.)"""
    add_columns(conn, RESULTS, ("suite_hash",))


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    started_at: datetime
    git_commit: str | None
    cases: int
    passed: int


class ResultStore:
    """Eval results in the registry's database."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def save(self, results: Sequence[CaseResult | Mapping[str, Any]], *,
             git_commit: str | None = None, options: dict[str, Any] | None = None) -> RunInfo:
        """Store one run (results, or their rows as `CaseResult.row()` gives them, e.g.
        sent by pytest-xdist workers); returns its id. Written in one transaction, with
        anything shaped like a credential hidden (`promptkit.redact`)."""
        rows = _scrubbed([r.row() if isinstance(r, CaseResult) else r for r in results])
        info = RunInfo(str(uuid.uuid4()), datetime.now(UTC), git_commit, len(rows),
                       sum(bool(r["passed"]) for r in rows))
        versions = sorted({f"{r['prompt']}@{r['version']}" for r in rows})
        self.registry.migrate()
        with write_transaction(self.registry.engine) as conn:
            conn.execute(RUNS.insert().values(
                run_id=info.run_id, started_at=info.started_at, git_commit=git_commit,
                options=json.dumps(options or {}, sort_keys=True, default=str),
                versions=json.dumps(versions), cases=info.cases, passed=info.passed,
            ))  # fmt: skip
            if rows:
                conn.execute(RESULTS.insert(), [_row(info.run_id, r) for r in rows])
        return info

    def frame(self, *, run_id: str | None = None, content_hash: str | None = None,
              prompt: str | None = None) -> pd.DataFrame:
        """Stored results (newest run first) as a DataFrame, filtered as asked."""
        import pandas as pd  # only readers of stored runs pay for it, not a run that saves one

        query = sa.select(RESULTS, RUNS.c.started_at, RUNS.c.git_commit).join(RUNS)
        for column, value in (("run_id", run_id), ("content_hash", content_hash),
                              ("prompt", prompt)):
            if value is not None:
                query = query.where(RESULTS.c[column] == value)
        query = query.order_by(RUNS.c.started_at.desc(), RESULTS.c.id)
        self.registry.migrate()
        with self.registry.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        for column in ("output", "failures"):
            frame[column] = frame[column].map(lambda v: json.loads(v) if v else None)
        return frame

    def latest_for(self, content_hash: str, case_ids: Iterable[str]) -> pd.DataFrame | None:
        """The newest run's results for `content_hash` if that run covered every case."""
        frame = self.frame(content_hash=content_hash)
        wanted = set(case_ids)
        for run_id in frame["run_id"].drop_duplicates():
            rows = frame[frame["run_id"] == run_id]
            if wanted <= set(rows["case_id"]):
                return rows[rows["case_id"].isin(wanted)].reset_index(drop=True)
        return None

    def runs(self) -> list[RunInfo]:
        self.registry.migrate()
        with self.registry.engine.connect() as conn:
            rows = conn.execute(sa.select(RUNS).order_by(RUNS.c.started_at.desc())).all()
        return [RunInfo(r.run_id, r.started_at, r.git_commit, r.cases, r.passed) for r in rows]


def _scrubbed(rows: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows with anything shaped like a credential hidden: one look at all of them (the
    usual case: nothing to hide), else row by row, copying only those that hold one."""
    scrubber = Scrubber()
    return rows if scrubber.clean_data(rows) else [scrubber.data(row) for row in rows]


def _row(run_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run_id, "suite": row["suite"], "suite_hash": row.get("suite_hash") or None,
        "prompt": row["prompt"],
        "version": row["version"], "content_hash": row["content_hash"],
        "case_id": row["case_id"], "critical": row["critical"], "passed": row["passed"],
        "pass_rate": row["pass_rate"], "repeats": row["repeats"], "cost_usd": row["cost_usd"],
        "latency_s": row["latency_s"], "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "output": json.dumps(row["output"], ensure_ascii=False, default=str),
        "output_text": row.get("text"), "error": row["error"],
        "failures": json.dumps(row["failures"], default=str),
    }  # fmt: skip
