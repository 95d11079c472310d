"""The call log as the pages read it: filtered pages by keyset (never OFFSET), one call."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from promptkit.registry.calllog_sink import call_log

__all__ = ["PAGE_SIZE", "CallFilter", "CallPage", "call_page", "one_call"]

PAGE_SIZE = 50
_LIST_COLUMNS = ("id", "started_at", "prompt", "version", "label", "model", "error_type",
                 "latency_s", "cost_usd", "input_tokens", "output_tokens", "attempt_count")


@dataclass(frozen=True)
class CallFilter:
    """What the call list shows (every field optional)."""

    prompt: str = ""
    version: str = ""
    status: str = ""  # ok | error
    model: str = ""
    min_cost: float | None = None
    min_latency: float | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_query(cls, query: dict[str, str]) -> CallFilter:
        """From the page's query string; an unreadable number or time is ignored."""
        return cls(prompt=query.get("prompt", ""), version=query.get("version", ""),
                   status=query.get("status", ""), model=query.get("model", ""),
                   min_cost=_number(query.get("min_cost")),
                   min_latency=_number(query.get("min_latency")),
                   since=_time(query.get("since")), until=_time(query.get("until")))

    def query(self) -> dict[str, str]:
        """The filter as query parameters (for the next page's link)."""
        found = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v.isoformat() if isinstance(v, datetime) else str(v)
                for k, v in found.items() if v not in ("", None)}

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        c = call_log.c
        found: list[sa.ColumnElement[bool]] = []
        for column, value in ((c.prompt, self.prompt), (c.version, self.version),
                              (c.model, self.model)):
            if value:
                found.append(column == value)
        if self.status in ("ok", "error"):
            found.append(c.error_type.is_(None) if self.status == "ok"
                         else c.error_type.is_not(None))
        if self.min_cost is not None:
            found.append(c.cost_usd >= self.min_cost)
        if self.min_latency is not None:
            found.append(c.latency_s >= self.min_latency)
        if self.since is not None:
            found.append(c.started_at >= self.since)
        if self.until is not None:
            found.append(c.started_at < self.until)
        return found


@dataclass(frozen=True)
class CallPage:
    """One page of calls, newest first, and the cursor of the next page (None: the last)."""

    rows: list[Any]
    next_cursor: str | None


def call_page(engine: Engine, where: CallFilter, cursor: str | None = None,
              size: int = PAGE_SIZE) -> CallPage:
    """Calls matching `where`, newest first, after `cursor` (`started_at|id` of the last
    call of the previous page)."""
    c = call_log.c
    query = sa.select(*(c[name] for name in _LIST_COLUMNS)).where(*where.conditions())
    after = _cursor(cursor)
    if after is not None:
        when, call_id = after
        query = query.where(c.started_at <= when,  # a range the index serves, then the tie
                            sa.or_(c.started_at < when, c.id < call_id))
    query = query.order_by(c.started_at.desc(), c.id.desc()).limit(size + 1)
    with engine.connect() as conn:
        rows = list(conn.execute(query))
    more = len(rows) > size
    rows = rows[:size]
    last = rows[-1] if more and rows else None
    return CallPage(rows, f"{last.started_at.isoformat()}|{last.id}" if last else None)


def one_call(engine: Engine, call_id: str) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(call_log).where(call_log.c.id == call_id)).first()


def _cursor(text: str | None) -> tuple[datetime, str] | None:
    if not text or "|" not in text:
        return None
    when, _, call_id = text.partition("|")
    parsed = _time(when)
    return (parsed, call_id) if parsed is not None else None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _time(text: str | None) -> datetime | None:
    """An ISO time (a date, or `datetime-local`'s form); UTC when it names no zone."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    from datetime import UTC

    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
