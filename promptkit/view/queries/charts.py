"""The call log over time for the charts: calls bucketed in the database (one row per
bucket and version, whatever the number of calls)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from promptkit.registry.calllog_sink import call_log

__all__ = ["BUCKETS", "Timeline", "timeline"]

BUCKETS = 24


@dataclass(frozen=True)
class Timeline:
    """Per time bucket: the mean latency, the cost, and the calls of each version."""

    labels: list[str]
    latency_s: list[float]
    cost_usd: list[float]
    calls: dict[str, list[float]] = field(default_factory=dict)


def timeline(engine: Engine, prompt: str, buckets: int = BUCKETS) -> Timeline | None:
    """`prompt`'s calls from the first to the last in `buckets` equal spans (None: none)."""
    c = call_log.c
    mine = c.prompt == prompt
    with engine.connect() as conn:
        first, last = conn.execute(sa.select(sa.func.min(c.started_at),
                                             sa.func.max(c.started_at)).where(mine)).one()
        if first is None:
            return None
        width = max((last - first).total_seconds() / buckets, 1e-3)
        slot = _slot(engine, first, width, buckets).label("slot")
        rows = conn.execute(sa.select(slot, c.version, sa.func.count().label("n"),
                                      sa.func.sum(c.latency_s).label("latency"),
                                      sa.func.sum(c.cost_usd).label("cost"))
                            .where(mine).group_by(slot, c.version)).all()
    return _filled(rows, first, width, buckets)


def _slot(engine: Engine, first: datetime, width: float, buckets: int) -> sa.ColumnElement[int]:
    """The bucket number of a call, 0 to `buckets - 1`, in the database's own dialect."""
    c = call_log.c
    start = first.replace(tzinfo=None)
    if engine.dialect.name == "sqlite":
        seconds = (sa.func.julianday(c.started_at) - sa.func.julianday(start)) * 86400.0
    elif engine.dialect.name == "postgresql":
        seconds = sa.func.extract("epoch", c.started_at - sa.literal(start, sa.DateTime()))
    else:
        seconds = sa.func.timestampdiff(sa.literal_column("MICROSECOND"), start,
                                        c.started_at) / 1e6
    ratio = seconds / width  # SQLite's CAST truncates (and it may lack floor); the others round
    raw = sa.cast(ratio if engine.dialect.name == "sqlite" else sa.func.floor(ratio), sa.Integer)
    return sa.case((raw >= buckets, buckets - 1), (raw < 0, 0), else_=raw)


def _filled(rows: Sequence[sa.Row[Any]], first: datetime, width: float,
            buckets: int) -> Timeline:
    counts = [0.0] * buckets
    latency, cost = [0.0] * buckets, [0.0] * buckets
    calls: dict[str, list[float]] = {}
    for row in rows:
        slot, version, n, total_latency, total_cost = tuple(row)
        counts[slot] += n
        latency[slot] += float(total_latency or 0)
        cost[slot] += float(total_cost or 0)
        calls.setdefault(version or "(none)", [0.0] * buckets)[slot] += n
    labels = [f"{first + timedelta(seconds=width * i):%m-%d %H:%M}" for i in range(buckets)]
    mean = [latency[i] / counts[i] if counts[i] else 0.0 for i in range(buckets)]
    return Timeline(labels, mean, cost, dict(sorted(calls.items())))
