"""Move requests: a move into an environment that needs approvals waits as a request; each
approval, rejection and the completed move is one more chained event of it, never an
update, so who approved what stays in the tamper-evident history."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from promptkit.errors import UsageError
from promptkit.registry.chained import ChainWriter
from promptkit.registry.protection import Proposal
from promptkit.registry.records import MoveRequest
from promptkit.registry.schema import move_requests

__all__ = ["add_event", "open_request", "read_request", "read_requests"]


def open_request(chain: ChainWriter, move: Proposal, reason: str) -> MoveRequest:
    """Record `move` as a request waiting for approvals."""
    values = _values(move.name, move.env, move.version, move.content_hash, move.action,
                     move.current.content_hash if move.current else None, move.actor, reason)
    new_id = chain.append("approval", {**values, "request_id": None, "event": "request"})
    return _request({**values, "id": new_id}, [])


def add_event(chain: ChainWriter, request: MoveRequest, event: str, actor: str,
              reason: str) -> None:
    """Append `event` (approve, reject or done) to `request`."""
    values = _values(request.name, request.env, request.version, request.content_hash,
                     request.action, request.expect_hash, actor, reason)
    chain.append("approval", {**values, "request_id": request.id, "event": event})


def read_request(conn: Connection, request_id: int) -> MoveRequest:
    found = read_requests(conn, [request_id])
    if not found:
        raise UsageError(f"there is no move request #{request_id} (`promptkit approve` lists "
                         f"the pending ones)")
    return found[0]


def read_requests(conn: Connection, ids: Iterable[int] | None = None) -> list[MoveRequest]:
    """Requests (those with `ids`, or all), oldest first, with their approvals and state."""
    query = sa.select(move_requests).order_by(move_requests.c.id)
    if ids is not None:
        wanted = list(ids)
        query = query.where(sa.or_(move_requests.c.id.in_(wanted),
                                   move_requests.c.request_id.in_(wanted)))
    rows = [dict(r) for r in conn.execute(query).mappings()]
    events: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if row["request_id"] is not None:
            events.setdefault(row["request_id"], []).append(row)
    return [_request(r, events.get(r["id"], [])) for r in rows if r["event"] == "request"]


def _values(name: str, env: str, version: str, content_hash: str, action: str,
            expect_hash: str | None, actor: str, reason: str) -> dict[str, Any]:
    return {"name": name, "env": env, "version": version, "content_hash": content_hash,
            "action": action, "expect_hash": expect_hash, "actor": actor,
            "at": datetime.now(UTC), "reason": reason}


def _request(row: dict[str, Any], events: list[dict[str, Any]]) -> MoveRequest:
    kinds = {e["event"] for e in events}
    state = "done" if "done" in kinds else "rejected" if "reject" in kinds else "pending"
    approved = tuple(dict.fromkeys(e["actor"] for e in events if e["event"] == "approve"))
    return MoveRequest(row["id"], row["name"], row["env"], row["version"], row["content_hash"],
                       row["action"], row["expect_hash"], row["actor"], row["at"], row["reason"],
                       approved, state)
