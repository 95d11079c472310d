"""Human reviews of logged calls and eval case results: their table, queues, label export.

    save_review(registry, Review.new("call", call_id, "fail", reviewer="ana", comment="..."))
    reviews_of(registry, "call", call_id)          # newest first
    review_queue(registry, per_version=5, seed=7)  # unreviewed calls, sampled per version
    export_labels(registry, suite)                 # scored case reviews -> SUITE.labels.jsonl

A review's target is a call (`promptkit_call_log.id`) or a case result
(`promptkit_eval_results.id`). Reviews are appended, never changed: a second look at the
same target is a second row.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from promptkit.db.engine import write_transaction
from promptkit.db.migrations import migration
from promptkit.db.types import UTCDateTime
from promptkit.errors import UsageError
from promptkit.evals.calibration import labels_path
from promptkit.evals.store import RESULTS
from promptkit.evals.suite import Suite
from promptkit.registry import Registry
from promptkit.registry.calllog_sink import call_log

__all__ = [
    "KINDS",
    "REVIEWS",
    "VERDICTS",
    "QueuedCall",
    "Review",
    "export_labels",
    "review_queue",
    "reviews_of",
    "save_review",
]

TargetKind = Literal["call", "case"]
KINDS: tuple[str, ...] = ("call", "case")
VERDICTS: tuple[str, ...] = ("pass", "fail")
_RECENT = 500
"""A queue samples from this many newest calls of each version (bounded work on big logs)."""

REVIEWS = sa.Table(
    "promptkit_reviews", sa.MetaData(),
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("target_kind", sa.String(8), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("verdict", sa.String(8), nullable=False),
    sa.Column("score", sa.Float()),
    sa.Column("label", sa.String(100)),
    sa.Column("comment", sa.Text(), nullable=False),
    sa.Column("reviewer", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_promptkit_reviews_target", "target_kind", "target_id"),
)  # fmt: skip


@migration("reviews")
def m001_reviews(conn: Connection) -> None:
    """One row per human review of a call or a case result."""
    REVIEWS.create(conn)


@dataclass(frozen=True)
class Review:
    """One person's verdict on one call or case result (`id` 0 until saved)."""

    target_kind: str
    target_id: str
    verdict: str
    reviewer: str
    comment: str = ""
    score: float | None = None
    label: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: int = 0

    def __post_init__(self) -> None:
        if self.target_kind not in KINDS:
            raise UsageError(f"a review is of a call or a case, not {self.target_kind!r}")
        if self.verdict not in VERDICTS:
            raise UsageError(f"a verdict is pass or fail, not {self.verdict!r}")
        if not self.target_id or not self.reviewer:
            raise UsageError("a review needs its target's id and a reviewer")


@dataclass(frozen=True)
class QueuedCall:
    """A logged call waiting for a review."""

    id: str
    prompt: str
    version: str
    started_at: datetime
    ok: bool


def save_review(registry: Registry, review: Review) -> Review:
    """Store `review`; returns it with its id."""
    registry.migrate()
    row = {k: v for k, v in review.__dict__.items() if k != "id"}
    with write_transaction(registry.engine) as conn:
        new_id = conn.execute(REVIEWS.insert().values(**row)).inserted_primary_key
    return Review(**{**row, "id": int(new_id[0]) if new_id else 0})


def reviews_of(registry: Registry, kind: str, target_id: str) -> list[Review]:
    """The reviews of one target, newest first."""
    query = (sa.select(REVIEWS).where(REVIEWS.c.target_kind == kind,
                                      REVIEWS.c.target_id == str(target_id))
             .order_by(REVIEWS.c.id.desc()))
    registry.migrate()
    with registry.engine.connect() as conn:
        return [Review(**dict(r)) for r in conn.execute(query).mappings()]


def review_queue(registry: Registry, *, per_version: int = 5, seed: int = 0,
                 prompt: str | None = None) -> list[QueuedCall]:
    """Up to `per_version` unreviewed calls of each prompt version, a sample (fixed by
    `seed`) of its newest calls: the same seed gives the same queue until calls are
    reviewed or logged."""
    registry.migrate()
    with registry.engine.connect() as conn:
        versions = _versions(conn, prompt)
        queue: list[QueuedCall] = []
        for name, version in versions:
            found = _unreviewed(conn, name, version)
            picked = random.Random(f"{seed}:{name}:{version}").sample(
                found, min(per_version, len(found)))
            queue += sorted(picked, key=lambda c: c.started_at, reverse=True)
    return queue


def _versions(conn: Connection, prompt: str | None) -> list[tuple[str, str]]:
    query = (sa.select(call_log.c.prompt, call_log.c.version).distinct()
             .where(call_log.c.prompt.is_not(None), call_log.c.version.is_not(None)))
    if prompt is not None:
        query = query.where(call_log.c.prompt == prompt)
    return sorted((r.prompt, r.version) for r in conn.execute(query))


def _unreviewed(conn: Connection, name: str, version: str) -> list[QueuedCall]:
    reviewed = sa.select(REVIEWS.c.target_id).where(REVIEWS.c.target_kind == "call")
    query = (sa.select(call_log.c.id, call_log.c.started_at, call_log.c.error_type)
             .where(call_log.c.prompt == name, call_log.c.version == version)
             .order_by(call_log.c.started_at.desc()).limit(_RECENT).subquery())
    rows = conn.execute(sa.select(query).where(query.c.id.not_in(reviewed)))
    return [QueuedCall(r.id, name, version, r.started_at, r.error_type is None) for r in rows]


def export_labels(registry: Registry, suite: Suite) -> int:
    """Append every scored review of `suite`'s case results to `SUITE.labels.jsonl` (the
    judge-calibration labels; see `promptkit.evals.calibration`) that the file does not hold
    yet; returns how many were added."""
    path = labels_path(suite.path)
    known = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    seen = {json.dumps(json.loads(line), sort_keys=True) for line in known if line.strip()}
    new = [line for line in _label_lines(registry, suite.name)
           if json.dumps(json.loads(line), sort_keys=True) not in seen]
    new = list(dict.fromkeys(new))
    if new:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        gap = "\n" if text and not text.endswith("\n") else ""
        with path.open("a", encoding="utf-8") as handle:
            handle.write(gap + "".join(f"{line}\n" for line in new))
    return len(new)


def _label_lines(registry: Registry, suite: str) -> list[str]:
    query = (sa.select(RESULTS.c.case_id, RESULTS.c.output, RESULTS.c.output_text,
                       REVIEWS.c.score)
             .join(REVIEWS, sa.and_(REVIEWS.c.target_kind == "case",
                                    REVIEWS.c.target_id == sa.cast(RESULTS.c.id, sa.String)))
             .where(RESULTS.c.suite == suite, REVIEWS.c.score.is_not(None))
             .order_by(REVIEWS.c.id))
    registry.migrate()
    with registry.engine.connect() as conn:
        return [json.dumps(_label(r), ensure_ascii=False, sort_keys=True)
                for r in conn.execute(query)]


def _label(row: Any) -> dict[str, Any]:
    output = json.loads(row.output) if row.output else None
    return {"case": row.case_id, "human": row.score,
            "output": output if output is not None else row.output_text}
