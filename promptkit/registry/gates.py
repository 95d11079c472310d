"""Gate verdicts kept in the registry, chained like pin moves, so a pin can ask: did this
exact content pass a gate against the content the environment serves now?"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from promptkit.registry.chained import ChainWriter
from promptkit.registry.records import GateRecord
from promptkit.registry.schema import gate_results

__all__ = ["passing_gate", "read_gates", "record_gate"]


def record_gate(chain: ChainWriter, row: Mapping[str, Any]) -> GateRecord:
    """Append one verdict (the columns of `promptkit_gate_results`, `summary` a dict)."""
    values = {**row, "summary": json.dumps(row["summary"], default=str, sort_keys=True)}
    new_id = chain.append("gate", values)
    return _record({**values, "id": new_id, "db_user": chain.db_user})


def read_gates(conn: Connection, name: str, *, candidate_hash: str | None = None,
               baseline_hash: str | None = None) -> list[GateRecord]:
    """Verdicts for `name` (filtered by the hashes given), newest first."""
    query = sa.select(gate_results).where(gate_results.c.name == name)
    if candidate_hash is not None:
        query = query.where(gate_results.c.candidate_hash == candidate_hash)
    if baseline_hash is not None:
        query = query.where(gate_results.c.baseline_hash == baseline_hash)
    rows = conn.execute(query.order_by(gate_results.c.id.desc())).mappings()
    return [_record(dict(r)) for r in rows]


def passing_gate(conn: Connection, name: str, candidate_hash: str,
                 baseline_hash: str) -> GateRecord | None:
    """The newest passing verdict for exactly this candidate against this baseline."""
    query = (sa.select(gate_results)
             .where(gate_results.c.name == name, gate_results.c.candidate_hash == candidate_hash,
                    gate_results.c.baseline_hash == baseline_hash, gate_results.c.passed)
             .order_by(gate_results.c.id.desc()).limit(1))
    row = conn.execute(query).mappings().first()
    return _record(dict(row)) if row is not None else None


def _record(row: dict[str, Any]) -> GateRecord:
    summary = row["summary"]
    fields = {k: row[k] for k in GateRecord.__dataclass_fields__}
    return GateRecord(**{**fields, "passed": bool(row["passed"]),
                         "summary": json.loads(summary) if isinstance(summary, str) else summary})
