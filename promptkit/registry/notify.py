"""Pin moves announced by the database: `announce` sends `NOTIFY promptkit_pins, 'NAME|ENV'`
in the move's own transaction (PostgreSQL delivers it at commit, and never for a move that
rolled back); `parse` reads a payload back. Other databases have no notifications: there
`announce` does nothing, and resolvers learn of moves by their ttl check."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["CHANNEL", "announce", "parse"]

CHANNEL = "promptkit_pins"
"""The PostgreSQL channel pin moves are announced on (one per database, not per schema:
a listener may hear moves of registries in other schemas, and only checks once more)."""

_NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")


def announce(conn: Connection, name: str, env: str) -> None:
    """Tell listening resolvers that `name` moved in `env`, when `conn`'s transaction
    commits (PostgreSQL; nothing elsewhere)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": f"{name}|{env}"})


def parse(payload: str) -> tuple[str, str] | None:
    """`(name, env)` from a payload `announce` sent (None for anything else)."""
    name, sep, env = payload.partition("|")
    return (name, env) if sep and name and env else None
