"""The fleet: which content each serving process serves, per prompt and environment.

Serving processes write heartbeats (`heartbeats.Heartbeats`): one row per process in
`promptkit_heartbeats` (host, pid, when it started, when it was last seen, until when it
counts as live) and one per process, prompt and environment in `promptkit_heartbeat_pins`
(the version and content hash it serves, since when, and what it served before).
`read_fleet` sets them beside the pins: who serves what the pin says, who does not yet,
and how long after the last move the last live process switched.

Times are each writer's UTC clock: hosts whose clocks disagree by more than a switch takes
show the difference in the switch times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from promptkit.db.engine import unavailable_as_error, write_transaction
from promptkit.db.migrations import migration
from promptkit.db.types import UTCDateTime
from promptkit.registry.records import Pin
from promptkit.registry.store import Registry

__all__ = [
    "COMPONENT",
    "LIVE_INTERVALS",
    "FleetEntry",
    "FleetProcess",
    "ProcessInfo",
    "Served",
    "fleet_of",
    "heartbeat_pins",
    "heartbeats",
    "read_fleet",
    "write_heartbeat",
]

COMPONENT = "fleet"

LIVE_INTERVALS = 3
"""A process counts as live while its last heartbeat is younger than this many intervals."""

_NAME, _VERSION, _ENV, _HASH = 200, 64, 100, 80


def define_v1(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The first shape of the tables. Frozen: migration m001 creates exactly this."""
    processes = sa.Table(
        "promptkit_heartbeats", metadata,
        sa.Column("process_id", sa.String(36), primary_key=True),  # a uuid per process
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("live_until", UTCDateTime(), nullable=False),  # last_seen + 3 intervals
        sa.Column("interval_s", sa.Float, nullable=False),
        sa.Column("watch", sa.String(16), nullable=False),  # listen | data_version | poll
        sa.Index("ix_promptkit_heartbeats_live_until", "live_until"),
    )
    served = sa.Table(
        "promptkit_heartbeat_pins", metadata,
        sa.Column("process_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(_NAME), primary_key=True),
        sa.Column("env", sa.String(_ENV), primary_key=True),
        sa.Column("version", sa.String(_VERSION), nullable=False),
        sa.Column("content_hash", sa.String(_HASH), nullable=False),
        sa.Column("ledger_id", sa.Integer),
        sa.Column("switched_at", UTCDateTime(), nullable=False),
        sa.Column("previous_version", sa.String(_VERSION)),  # None: first load, no switch
        sa.Column("stale", sa.Boolean, nullable=False),
        sa.Index("ix_promptkit_heartbeat_pins_name_env", "name", "env"),
    )  # fmt: skip
    return processes, served


METADATA = sa.MetaData()
heartbeats, heartbeat_pins = define_v1(METADATA)
"""The tables as they are now (when a step changes them, change this and keep define_v1)."""


@migration(COMPONENT)
def m001_heartbeats(conn: Connection) -> None:
    """A row per serving process, and one per process, prompt and environment it serves."""
    for table in define_v1(sa.MetaData()):
        table.create(conn)


@dataclass(frozen=True)
class ProcessInfo:
    """One serving process: a uuid of its own, where it runs, when it started."""

    process_id: str
    host: str
    pid: int
    started_at: datetime


@dataclass(frozen=True)
class Served:
    """What one process serves for a prompt in an environment, and since when."""

    name: str
    env: str
    version: str
    content_hash: str
    ledger_id: int | None
    switched_at: datetime
    previous_version: str | None = None
    stale: bool = False


def write_heartbeat(engine: Engine, process: ProcessInfo, *, interval_s: float, watch: str,
                    served: Iterable[Served], now: datetime) -> None:
    """Upsert the process's row and the given rows of what it serves, in one transaction
    (only this process writes its rows, so update-else-insert cannot race)."""
    row = {"host": process.host, "pid": process.pid, "started_at": process.started_at,
           "last_seen": now, "interval_s": interval_s, "watch": watch,
           "live_until": now + timedelta(seconds=LIVE_INTERVALS * interval_s)}
    with write_transaction(engine) as conn:
        _upsert(conn, heartbeats, {"process_id": process.process_id}, row)
        for item in served:
            key = {"process_id": process.process_id, "name": item.name, "env": item.env}
            _upsert(conn, heartbeat_pins, key, {
                "version": item.version, "content_hash": item.content_hash,
                "ledger_id": item.ledger_id, "switched_at": item.switched_at,
                "previous_version": item.previous_version, "stale": item.stale})


def _upsert(conn: Connection, table: sa.Table, key: dict[str, Any],
            values: dict[str, Any]) -> None:
    where = [table.c[column] == value for column, value in key.items()]
    if conn.execute(table.update().where(*where).values(**values)).rowcount == 0:
        conn.execute(table.insert().values(**key, **values))


@dataclass(frozen=True)
class FleetProcess:
    """A live process serving a prompt in an environment, as its last heartbeat says."""

    process_id: str
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    watch: str
    version: str
    content_hash: str
    switched_at: datetime
    previous_version: str | None
    stale: bool


@dataclass(frozen=True)
class FleetEntry:
    """A pin and the live processes serving its prompt in its environment."""

    pin: Pin
    processes: tuple[FleetProcess, ...]

    @property
    def waiting(self) -> tuple[FleetProcess, ...]:
        """Live processes that do not serve the pinned content (yet)."""
        return tuple(p for p in self.processes if p.content_hash != self.pin.content_hash)

    def switch_s(self, process: FleetProcess) -> float | None:
        """Seconds from the pin's move to this process's switch to it (None when it did
        not switch after the move: it loaded the content at start, or served it before)."""
        if process.content_hash != self.pin.content_hash or process.previous_version is None:
            return None
        seconds = (process.switched_at - self.pin.moved_at).total_seconds()
        return seconds if seconds >= 0 else None

    @property
    def last_switch_s(self) -> float | None:
        """How long after the move the last live process switched; None while some have
        not, or when none switched (all loaded it at start)."""
        times = [s for s in map(self.switch_s, self.processes) if s is not None]
        return max(times) if times and not self.waiting else None

    def as_dict(self) -> dict[str, Any]:
        pin = self.pin
        return {"name": pin.name, "env": pin.env, "version": pin.version,
                "content_hash": pin.content_hash, "ledger_id": pin.ledger_id,
                "moved_at": pin.moved_at.isoformat(), "last_switch_s": self.last_switch_s,
                "live": len(self.processes), "waiting": len(self.waiting),
                "processes": [{**_process_dict(p), "switch_s": self.switch_s(p),
                               "serves_pin": p.content_hash == pin.content_hash}
                              for p in self.processes]}


def _process_dict(process: FleetProcess) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in vars(process).items()}


def read_fleet(conn: Connection, pins: Sequence[Pin], now: datetime) -> list[FleetEntry]:
    """Each pin with the processes live at `now` that serve its prompt in its environment."""
    names = sorted({p.name for p in pins})
    query = (sa.select(heartbeats, heartbeat_pins.c.name, heartbeat_pins.c.env,
                       heartbeat_pins.c.version, heartbeat_pins.c.content_hash,
                       heartbeat_pins.c.switched_at, heartbeat_pins.c.previous_version,
                       heartbeat_pins.c.stale)
             .join(heartbeat_pins, heartbeat_pins.c.process_id == heartbeats.c.process_id)
             .where(heartbeats.c.live_until >= now, heartbeat_pins.c.name.in_(names))
             .order_by(heartbeats.c.host, heartbeats.c.pid))
    live: dict[tuple[str, str], list[FleetProcess]] = {}
    for row in conn.execute(query) if names else ():
        live.setdefault((row.name, row.env), []).append(_process(row))
    return [FleetEntry(p, tuple(live.get((p.name, p.env), []))) for p in pins]


def _process(row: Any) -> FleetProcess:
    return FleetProcess(
        row.process_id, row.host, row.pid, row.started_at, row.last_seen, row.watch,
        row.version, row.content_hash, row.switched_at, row.previous_version, row.stale)


def fleet_of(registry: Registry, names: Iterable[str] = (), env: str | None = None,
             now: datetime | None = None) -> list[FleetEntry]:
    """The pins of `names` (every prompt when empty; of `env` only, when given), each with
    the live processes serving it."""
    pins = [p for p in registry.pins(list(names) or None) if env is None or p.env == env]
    registry.migrate()
    with unavailable_as_error(registry.url), registry.engine.connect() as conn:
        return read_fleet(conn, pins, now or datetime.now(UTC))
