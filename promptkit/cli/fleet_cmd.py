"""`promptkit fleet`: per prompt and environment, what the pin says and which live serving
processes serve which content, and how long after the last move the last one switched."""

from __future__ import annotations

import json
from datetime import datetime

import click

from promptkit.cli.app import Project, cli, pass_project
from promptkit.registry.fleet import FleetEntry, FleetProcess, fleet_of

_SHORT_HASH = 19  # "sha256:" and 12 hex digits


@cli.command("fleet")
@click.argument("name", required=False)
@click.option("--env", default=None, help="Only this environment.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_project
def fleet_command(project: Project, name: str | None, env: str | None, as_json: bool) -> None:
    """What each pin says and what the live serving processes serve (those that reported
    within 3 heartbeats), with host, pid and start time; after the last move, how long
    until every live process switched, or which have not."""
    entries = fleet_of(project.open_registry(create=False), [name] if name else [], env)
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in entries], indent=2, ensure_ascii=False))
        return
    if not entries:
        click.echo("no pins" + (f" for {name}" if name else "") + (f" in {env}" if env else ""),
                   err=True)
    for entry in entries:
        _echo_entry(entry)


def _echo_entry(entry: FleetEntry) -> None:
    pin = entry.pin
    click.echo(f"{pin.name}@{pin.env}: pinned {pin.version} ({pin.content_hash[:_SHORT_HASH]})"
               f" by ledger row #{pin.ledger_id} at {_when(pin.moved_at)}")
    click.echo(f"  {_summary(entry)}")
    for process in entry.processes:
        click.echo(f"  {_process_line(entry, process)}")


def _summary(entry: FleetEntry) -> str:
    live, waiting = len(entry.processes), entry.waiting
    if not live:
        return "no live process reports serving it"
    if waiting:
        names = ", ".join(f"{p.host}:{p.pid} ({p.version})" for p in waiting)
        return f"{len(waiting)} of {live} live processes do not serve it yet: {names}"
    last = entry.last_switch_s
    if last is None:
        return f"all {live} live processes serve it (none switched after the move: " \
               f"they loaded it when they started)"
    return f"all {live} live processes serve it; the last switched {last:.3f} s after the move"


def _process_line(entry: FleetEntry, process: FleetProcess) -> str:
    serves = f"{process.version} ({process.content_hash[:_SHORT_HASH]})"
    if process.content_hash != entry.pin.content_hash:
        state = "NOT SWITCHED"
    else:
        switch = entry.switch_s(process)
        state = (f"switched +{switch:.3f} s" if switch is not None
                 else f"since {_when(process.switched_at)}")
    stale = ", stale" if process.stale else ""
    return (f"{process.host}:{process.pid:<7} started {_when(process.started_at)}  serves "
            f"{serves}  {state}{stale}  (seen {_when(process.last_seen)}, {process.watch})")


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}Z"
