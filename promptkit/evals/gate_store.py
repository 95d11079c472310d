"""Gate results in the project database, so `promote` can ask: did this exact content pass
a gate against the content the environment serves now?"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from promptkit.db.engine import inserted_id, unavailable_as_error, write_transaction
from promptkit.db.migrations import migration
from promptkit.db.types import UTCDateTime
from promptkit.errors import PromptkitError
from promptkit.evals.gate import GateReport
from promptkit.registry import Registry, default_actor

__all__ = ["GATES", "GateRecord", "GateStore", "store_verdict"]

METADATA = sa.MetaData()

GATES = sa.Table(
    "promptkit_gate_results", METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("candidate_version", sa.String(64), nullable=False),
    sa.Column("candidate_hash", sa.String(80), nullable=False),
    sa.Column("baseline_version", sa.String(64), nullable=False),
    sa.Column("baseline_hash", sa.String(80), nullable=False),
    sa.Column("baseline_label", sa.String(100)),
    sa.Column("passed", sa.Boolean(), nullable=False),
    sa.Column("summary", sa.Text(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Index("ix_promptkit_gate_results_hashes", "name", "candidate_hash", "baseline_hash"),
    sqlite_autoincrement=True,
)  # fmt: skip


@migration("gate")
def m001_gate_results(conn: Connection) -> None:
    METADATA.create_all(conn, tables=[GATES])


@dataclass(frozen=True)
class GateRecord:
    """One stored gate verdict; `summary` is the report without its per-case rows."""

    id: int
    name: str
    candidate_version: str
    candidate_hash: str
    baseline_version: str
    baseline_hash: str
    baseline_label: str | None
    passed: bool
    summary: dict[str, Any]
    at: datetime
    actor: str

    def line(self) -> str:
        against = f"{self.baseline_version}" + (f" ({self.baseline_label})"
                                                if self.baseline_label else "")
        verdict = self.summary.get("verdict") or ("pass" if self.passed else "regression")
        word = {"pass": "passed", "regression": "failed", "inconclusive": "was inconclusive",
                "error": "failed with an error"}.get(verdict, verdict)
        return (f"gate #{self.id} {word}: "
                f"{self.name}@{self.candidate_version} against {against}, "
                f"{self.at:%Y-%m-%d %H:%M:%S}Z by {self.actor}")


class GateStore:
    """Gate verdicts in the registry's database (table `promptkit_gate_results`)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def save(self, report: GateReport, *, actor: str | None = None) -> GateRecord:
        """Store a verdict. Only a shown pass counts as passed for `promote`: an inconclusive
        gate (whatever `--on-inconclusive` made it exit with) and an error do not."""
        row = {
            "name": report.name, "candidate_version": report.candidate.version,
            "candidate_hash": report.candidate.content_hash,
            "baseline_version": report.baseline.version,
            "baseline_hash": report.baseline.content_hash,
            "baseline_label": report.baseline.label, "passed": report.verdict == "pass",
            "summary": json.dumps(report.as_dict(cases=False), default=str),
            "at": report.created_at, "actor": actor or default_actor(),
        }  # fmt: skip
        self.registry.migrate()
        registry = self.registry
        with unavailable_as_error(registry.url), write_transaction(registry.engine) as conn:
            new_id = inserted_id(conn.execute(GATES.insert().values(**row)))
        return _record({**row, "id": new_id})

    def records(self, name: str, *, candidate_hash: str | None = None,
                baseline_hash: str | None = None) -> list[GateRecord]:
        """Verdicts for `name` (filtered by the hashes given), newest first."""
        query = sa.select(GATES).where(GATES.c.name == name)
        if candidate_hash is not None:
            query = query.where(GATES.c.candidate_hash == candidate_hash)
        if baseline_hash is not None:
            query = query.where(GATES.c.baseline_hash == baseline_hash)
        self.registry.migrate()
        with unavailable_as_error(self.registry.url), self.registry.engine.connect() as conn:
            rows = conn.execute(query.order_by(GATES.c.id.desc())).all()
        return [_record(dict(r._mapping)) for r in rows]

    def passing(self, name: str, candidate_hash: str, baseline_hash: str) -> GateRecord | None:
        """The newest passing verdict for exactly this candidate against this baseline."""
        found = self.records(name, candidate_hash=candidate_hash, baseline_hash=baseline_hash)
        return next((r for r in found if r.passed), None)


def store_verdict(registry: Registry, report: GateReport) -> GateRecord | None:
    """Store a verdict; a database failure only warns (the verdict itself stands)."""
    try:
        return GateStore(registry).save(report)
    except PromptkitError as exc:
        warnings.warn(f"promptkit: the gate's verdict was not stored: {exc}", stacklevel=2)
        return None


def _record(row: dict[str, Any]) -> GateRecord:
    summary = row["summary"]
    return GateRecord(**{**row, "passed": bool(row["passed"]),
                         "summary": json.loads(summary) if isinstance(summary, str) else summary})
