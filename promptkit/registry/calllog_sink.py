"""The call log in the project database: its table and migration, the sink, the queries.

    sink = DatabaseSink(settings.database_url)         # a `CallLogSink` for `CallLog`
    sink.spent_on("main")                              # today's USD for a per-day budget
    read_calls(sink.engine, prompt="sentiment", since=datetime(...))  # a DataFrame
    call_stats(frame)                                  # per prompt@version

One row per call in `promptkit_call_log`; attempts, messages, the request and the output
are JSON columns. A batch is inserted in one transaction; a batch retried after an
uncertain failure skips the ids already stored, so no call is ever stored twice.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

from promptkit.core.calllog import CallLog, CallLogEntry
from promptkit.db.engine import create_registry_engine, redact, write_transaction
from promptkit.db.migrations import add_columns, migrate, migration
from promptkit.db.types import UTCDateTime
from promptkit.registry.store import Registry

if TYPE_CHECKING:
    import pandas as pd  # imported when read: an app that only writes the log never needs it

__all__ = [
    "COMPONENT",
    "STATS_COLUMNS",
    "DatabaseSink",
    "call_log",
    "call_stats",
    "feedback",
    "project_call_log",
    "read_calls",
]

COMPONENT = "call_log"

STATS_COLUMNS = (
    "prompt", "version", "calls", "errors", "error_rate", "p50_latency_s", "p95_latency_s",
    "input_tokens", "output_tokens", "cost_usd",
)  # fmt: skip
"""The columns of `call_stats`, in order."""


def _long_text() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def define_v1(metadata: sa.MetaData) -> sa.Table:
    """The first shape of the table. Frozen: migration m001 creates exactly this."""
    return sa.Table(
        "promptkit_call_log", metadata,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("prompt", sa.String(200)),
        sa.Column("version", sa.String(64)),
        sa.Column("content_hash", sa.String(80)),
        sa.Column("label", sa.String(100)),
        sa.Column("config_name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("temperature_requested", sa.Double()),
        sa.Column("temperature_effective", sa.Double()),
        sa.Column("finish_reason", sa.String(32)),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("cost_source", sa.String(16), nullable=False),
        sa.Column("latency_s", sa.Double(), nullable=False),
        sa.Column("first_token_s", sa.Double()),
        sa.Column("attempt_count", sa.Integer, nullable=False),
        sa.Column("request_id", sa.String(200)),
        sa.Column("error_type", sa.String(100)),
        sa.Column("error", sa.Text()),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("raw_output", _long_text()),
        sa.Column("config", sa.JSON()),
        sa.Column("request", sa.JSON()),
        sa.Column("messages", sa.JSON()),
        sa.Column("parsed_output", sa.JSON()),
        sa.Column("attempts", sa.JSON()),
        sa.Column("meta", sa.JSON()),
        sa.Index("ix_promptkit_call_log_started_at", "started_at"),
        sa.Index("ix_promptkit_call_log_prompt", "prompt", "version", "started_at"),
        sa.Index("ix_promptkit_call_log_config_day", "config_name", "started_at"),
        sa.Index("ix_promptkit_call_log_run", "run_id"),
    )  # fmt: skip


def define_v2(metadata: sa.MetaData) -> sa.Table:
    """What m002 adds: the canary arm a call was served from, its re-asks, and the feedback
    an application reports on a call (`promptkit.feedback`). Frozen."""
    table = define_v1(metadata)
    table.append_column(sa.Column("arm", sa.String(16)))
    table.append_column(sa.Column("reasks", sa.Integer))
    sa.Table(
        "promptkit_feedback", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Index("ix_promptkit_feedback_call", "call_id"),
        sqlite_autoincrement=True,
    )
    return table


_METADATA = sa.MetaData()
call_log = define_v2(_METADATA)
"""The table as it is now (when a step changes it, change this too and leave define_v1)."""
feedback = _METADATA.tables["promptkit_feedback"]

_PROMPT_TIME = sa.Index("ix_promptkit_call_log_prompt_time", call_log.c.prompt,
                        call_log.c.started_at)  # m003


@migration(COMPONENT)
def m001_call_log(conn: Connection) -> None:
    """One row per model call."""
    define_v1(sa.MetaData()).create(conn)


@migration(COMPONENT)
def m002_arms_and_feedback(conn: Connection) -> None:
    """The arm of a canary a call was served from, its re-asks; feedback on calls."""
    snapshot = sa.MetaData()
    table = define_v2(snapshot)
    add_columns(conn, table, ("arm", "reasks"))
    snapshot.tables["promptkit_feedback"].create(conn, checkfirst=True)


@migration(COMPONENT)
def m003_prompt_time_index(conn: Connection) -> None:
    """A prompt's calls newest first (`promptkit view`'s call list filtered by prompt pages
    through them by time; the (prompt, version, started_at) index leaves a sort)."""
    _PROMPT_TIME.create(conn, checkfirst=True)


def _row(entry: CallLogEntry) -> dict[str, Any]:
    row = {c.name: getattr(entry, c.name) for c in call_log.columns if hasattr(entry, c.name)}
    row["meta"] = entry.metadata
    for name in ("prompt", "version", "label", "model", "config_name", "request_id"):
        if isinstance(row.get(name), str):
            row[name] = row[name][: call_log.c[name].type.length]  # type: ignore[attr-defined]
    return row


class DatabaseSink:
    """Writes call log entries to the project database (schema migrated on first use)."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        if engine is None and url is None:
            raise ValueError("DatabaseSink needs a database URL or an engine")
        self.engine = engine if engine is not None else create_registry_engine(str(url))
        self._owns_engine = engine is None
        self.url = redact(self.engine.url)
        self._migrated = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DatabaseSink({self.url!r})"

    def migrate(self) -> None:
        with self._lock:
            if not self._migrated:
                migrate(self.engine, [COMPONENT])
                self._migrated = True

    def write(self, entries: Sequence[CallLogEntry]) -> None:
        """Insert a batch in one transaction; ids already stored are skipped."""
        if not entries:
            return
        self.migrate()
        rows = [_row(e) for e in entries]
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(call_log.insert(), rows)
        except exc.IntegrityError:
            self._insert_missing(rows)

    def _insert_missing(self, rows: list[dict[str, Any]]) -> None:
        """Insert row by row, each in a savepoint, skipping the ids already stored: only
        INSERT is needed, so a role that may not read the log can write it (`roles`)."""
        with write_transaction(self.engine) as conn:
            for row in rows:
                try:
                    with conn.begin_nested():
                        conn.execute(call_log.insert(), [row])
                except exc.IntegrityError:
                    continue

    def spent_on(self, config_name: str, day: date | None = None) -> float:
        """USD spent by calls of a model config on a UTC day (default: today)."""
        self.migrate()
        start = datetime.combine(day or datetime.now(UTC).date(), time(), UTC)
        query = sa.select(sa.func.coalesce(sa.func.sum(call_log.c.cost_usd), 0.0)).where(
            call_log.c.config_name == config_name,
            call_log.c.started_at >= start,
            call_log.c.started_at < start + timedelta(days=1),
        )
        with self.engine.connect() as conn:
            return float(conn.execute(query).scalar_one())

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()


def read_calls(
    engine: Engine,
    *,
    prompt: str | None = None,
    version: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Logged calls, newest first, as a DataFrame (JSON columns as Python values).

    Empty (with every column) when nothing was logged yet."""
    import pandas as pd

    if not sa.inspect(engine).has_table(call_log.name):
        return pd.DataFrame(columns=[c.name for c in call_log.columns])
    query = sa.select(call_log).order_by(call_log.c.started_at.desc(), call_log.c.id)
    if prompt is not None:
        query = query.where(call_log.c.prompt == prompt)
    if version is not None:
        query = query.where(call_log.c.version == version)
    if since is not None:
        query = query.where(call_log.c.started_at >= since)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in call_log.columns])


def call_stats(calls: pd.DataFrame) -> pd.DataFrame:
    """Per prompt@version: calls, errors, error rate, p50/p95 latency, tokens, total cost.

    Calls made without a prompt are grouped under prompt "(none)"."""
    import pandas as pd

    if calls.empty:
        return pd.DataFrame(columns=list(STATS_COLUMNS))
    frame = calls.assign(
        prompt=calls["prompt"].fillna("(none)"),
        version=calls["version"].fillna(""),
        failed=calls["error_type"].notna(),
    )
    grouped = frame.groupby(["prompt", "version"], sort=True)
    stats = grouped.agg(
        calls=("id", "count"),
        errors=("failed", "sum"),
        p50_latency_s=("latency_s", lambda s: s.quantile(0.5)),
        p95_latency_s=("latency_s", lambda s: s.quantile(0.95)),
        input_tokens=("input_tokens", "sum"),
        output_tokens=("output_tokens", "sum"),
        cost_usd=("cost_usd", "sum"),
    ).reset_index()
    stats["errors"] = stats["errors"].astype(int)
    stats["error_rate"] = stats["errors"] / stats["calls"]
    return stats[list(STATS_COLUMNS)]


def project_call_log(registry: Registry, *, run_id: str | None = None,
                     handle_sigterm: bool = True) -> CallLog:
    """The project's call log: every call through a client with this hook lands in the
    registry's database (batched off the call path; a failing write only warns)."""
    return CallLog([DatabaseSink(engine=registry.engine)], run_id=run_id,
                   handle_sigterm=handle_sigterm)
