"""The fleet view: serving processes write heartbeats, and `promptkit fleet` shows what each
pin says beside what the live processes serve, who has not switched, and how long the last
switch took after the move. Real processes on every backend."""

from __future__ import annotations

import json
import multiprocessing
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.registry import Registry, Resolver
from promptkit.registry.fleet import FleetEntry, fleet_of
from promptkit.registry.heartbeats import Heartbeats
from promptkit.templates.library import PromptLibrary

BEAT_S = 0.3
REF = "sentiment@production"


def serve(url: str, push: bool, ttl: float, events: Any, stop: Any) -> None:
    """A serving process: resolve once, report, then idle (its threads do the rest)."""
    resolver = Resolver(Registry(url), ttl=ttl, wait_s=10.0, push=push, heartbeat_s=BEAT_S)
    resolver.get(REF)
    events.put(("ready", push))
    while not stop.wait(0.05):
        resolver.get(REF)
    resolver.close()


def until(condition: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def fleet(db_url: str, library: PromptLibrary) -> Iterator[tuple[Registry, dict[bool, Any]]]:
    """Two serving processes: one that follows moves (push, or a short ttl on MySQL), one
    that will not switch for ten minutes (no push, ttl 600 s)."""
    registry = Registry(db_url)
    registry.publish_library(library)
    for version in ("1.1.0", "1.2.0"):
        registry.pin("sentiment", version, env="production", reason="test")
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    stops = {push: context.Event() for push in (True, False)}
    processes = {push: context.Process(target=serve, args=(
        db_url, push, 0.3 if push else 600.0, events, stops[push])) for push in (True, False)}
    for process in processes.values():
        process.start()
    try:
        assert sorted(events.get(timeout=60)[1] for _ in processes) == [False, True]
        yield registry, {push: (processes[push], stops[push]) for push in processes}
    finally:
        for push, process in processes.items():
            stops[push].set()
            process.join(timeout=30)
        registry.close()


def _entry(registry: Registry) -> FleetEntry:
    [entry] = fleet_of(registry, ["sentiment"], "production")
    return entry


def test_fleet_shows_who_switched_and_who_did_not_then_the_time_to_the_last_switch(
    fleet: tuple[Registry, dict[bool, Any]], db_url: str, project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry, processes = fleet
    follower, laggard = processes[True][0], processes[False][0]
    assert until(lambda: len(_entry(registry).processes) == 2, within=20)
    assert _entry(registry).waiting == ()

    moved = registry.rollback("sentiment", env="production", reason="incident")
    assert until(lambda: len(_entry(registry).waiting) == 1, within=20)
    entry = _entry(registry)
    assert [p.pid for p in entry.waiting] == [laggard.pid]
    [switched] = [p for p in entry.processes if p.pid == follower.pid]
    assert (switched.version, switched.previous_version) == ("1.1.0", "1.2.0")
    assert entry.last_switch_s is None  # not everyone switched yet

    monkeypatch.setenv("PROMPTKIT_DB_URL", db_url)
    shown = CliRunner().invoke(cli, ["fleet", "sentiment", "--env", "production"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("sentiment@production: pinned 1.1.0 (sha256:")
    assert f"by ledger row #{moved.id}" in lines[0]
    assert lines[1].strip().startswith("1 of 2 live processes do not serve it yet: ")
    assert f":{laggard.pid} (1.2.0)" in lines[1]
    rows = {line.split()[0].rsplit(":", 1)[1]: line for line in lines[2:]}
    assert "NOT SWITCHED" in rows[str(laggard.pid)]
    assert "switched +" in rows[str(follower.pid)]

    as_json = json.loads(CliRunner().invoke(cli, ["fleet", "--json"]).stdout)
    [production] = [e for e in as_json if e["env"] == "production"]
    assert (production["live"], production["waiting"]) == (2, 1)
    assert {p["pid"]: p["serves_pin"] for p in production["processes"]} == {
        follower.pid: True, laggard.pid: False}

    processes[False][1].set()  # the laggard stops: after 3 heartbeats it is no longer live
    laggard.join(timeout=30)
    assert until(lambda: len(_entry(registry).processes) == 1, within=3 * BEAT_S + 10)
    entry = _entry(registry)
    assert entry.last_switch_s is not None and 0 <= entry.last_switch_s < 10
    shown = CliRunner().invoke(cli, ["fleet", "sentiment"])
    assert "all 1 live processes serve it; the last switched " in shown.stdout


def test_a_failing_heartbeat_warns_once_and_never_reaches_get(
    sqlite_url: str, library: PromptLibrary, tmp_path: Path,
) -> None:
    registry = Registry(sqlite_url)
    registry.publish_library(library)
    registry.pin("sentiment", "1.1.0", env="production", reason="test")
    beats = Heartbeats(Registry(f"sqlite:///{tmp_path / 'gone' / 'x.db'}", create=False), 0.05)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        beats.start()
        assert until(lambda: beats.failures >= 3, within=10)
        beats.close()
    failed = [w for w in caught if "heartbeat" in str(w.message)]
    assert len(failed) == 1 and issubclass(failed[0].category, RuntimeWarning)
    assert beats.writes == 0


def test_the_heartbeat_reports_a_switch_at_once_with_its_time(
    sqlite_url: str, library: PromptLibrary,
) -> None:
    registry = Registry(sqlite_url)
    registry.publish_library(library)
    for version in ("1.1.0", "1.2.0"):
        registry.pin("sentiment", version, env="production", reason="test")
    resolver = Resolver(Registry(sqlite_url), ttl=60, wait_s=10.0, heartbeat_s=60)
    resolver.get(REF)
    assert until(lambda: len(_entry(registry).processes) == 1, within=10)
    moved = registry.rollback("sentiment", env="production", reason="incident")
    assert until(lambda: _entry(registry).waiting == () and
                 _entry(registry).processes[0].version == "1.1.0", within=10)  # not 60 s
    [process] = _entry(registry).processes
    assert moved.at <= process.switched_at <= datetime.now(UTC)
    assert process.previous_version == "1.2.0" and process.watch == "data_version"
    resolver.close()
