"""Rollback by push: a move reaches a resolver in another process as it commits (PostgreSQL's
LISTEN/NOTIFY, SQLite's data_version), long before its ttl; the ttl check still switches
while the listener is down; `close()` stops the threads and their connections.

Timings are generous on purpose: a ttl of 30 s and a switch asserted within 5 s means only
the push can explain it, and a loaded machine does not fail the test."""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from promptkit.registry import Registry, Resolver
from promptkit.registry.watch import PgListener, SqliteWatch
from promptkit.templates.library import PromptLibrary

LONG_TTL = 30.0
REF = "sentiment@production"
PUSH_BACKENDS = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


def published(url: str, library: PromptLibrary) -> Registry:
    registry = Registry(url)
    registry.publish_library(library)
    for version in ("1.1.0", "1.2.0"):
        registry.pin("sentiment", version, env="production", reason="test")
    return registry


def until(condition: Callable[[], bool], within: float, step: float = 0.01) -> float | None:
    """Seconds until `condition()` held, or None if it did not within `within` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if condition():
            return time.monotonic() - started
        time.sleep(step)
    return None


def serve_idle(url: str, events: Any, stop: Any) -> None:
    """Another process: resolve once, then call `get()` only every 50 ms to look."""
    resolver = Resolver(Registry(url), ttl=LONG_TTL, wait_s=10.0)
    first = resolver.get(REF).version
    events.put(("ready", first))
    while not stop.wait(0.05):
        version = resolver.get(REF).version
        if version != first:
            events.put(("seen", version))
            break
    resolver.close()


@pytest.mark.parametrize("backend", PUSH_BACKENDS)
def test_a_rollback_reaches_another_process_long_before_its_ttl(
    backend: str, library: PromptLibrary, request: pytest.FixtureRequest,
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    registry = published(url, library)
    context = multiprocessing.get_context("spawn")
    events, stop = context.Queue(), context.Event()
    other = context.Process(target=serve_idle, args=(url, events, stop))
    other.start()
    try:
        assert events.get(timeout=60) == ("ready", "1.2.0")
        time.sleep(0.5)  # its watcher is up and listening
        registry.rollback("sentiment", env="production", reason="incident")
        committed = time.monotonic()
        assert events.get(timeout=10) == ("seen", "1.1.0")
        assert time.monotonic() - committed < 5.0 < LONG_TTL  # only the push explains it
    finally:
        stop.set()
        other.join(timeout=30)


@pytest.mark.parametrize("backend", PUSH_BACKENDS)
def test_the_cache_is_refreshed_without_any_get_in_between(
    backend: str, library: PromptLibrary, request: pytest.FixtureRequest,
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    registry = published(url, library)
    resolver = Resolver(Registry(url), ttl=LONG_TTL, wait_s=10.0)
    assert resolver.get(REF).version == "1.2.0"
    time.sleep(0.5)
    registry.rollback("sentiment", env="production", reason="incident")
    # no get() while waiting: the entry itself must change (the watcher refreshed it)
    assert until(lambda: resolver._entries[("sentiment", "production", None)].version
                 == "1.1.0", within=5.0) is not None
    assert resolver.get(REF).version == "1.1.0"  # served from memory: the ttl is far off


@pytest.mark.postgres
def test_with_the_listener_killed_the_ttl_check_switches_and_the_listener_comes_back(
    postgres_url: str, library: PromptLibrary, monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = published(postgres_url, library)
    resolver = Resolver(Registry(postgres_url), ttl=1.0, wait_s=10.0)
    assert resolver.get(REF).version == "1.2.0"
    listener = resolver._threads.watch
    assert isinstance(listener, PgListener)
    assert until(lambda: listener.connected, within=10) is not None
    blocked = threading.Event()
    blocked.set()
    connect = listener._connect

    def refused_while_blocked() -> Any:
        if blocked.is_set():
            raise OSError("the test keeps the listener away")
        return connect()

    monkeypatch.setattr(listener, "_connect", refused_while_blocked)
    with registry.engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                     {"pid": listener.backend_pid})
    assert until(lambda: not listener.connected, within=10) is not None

    registry.rollback("sentiment", env="production", reason="while nobody listens")
    switched = until(lambda: resolver.get(REF).version == "1.1.0", within=10)
    assert switched is not None and switched < resolver.ttl + 3  # the ttl check did it

    blocked.clear()
    assert until(lambda: listener.connects == 2 and listener.connected, within=20) is not None
    resolver.ttl = LONG_TTL  # from now on, only the listener can switch it in time
    time.sleep(1.5)
    resolver.get(REF)  # starts a 30 s period
    registry.rollback("sentiment", env="production", reason="listening again", to="1.2.0")
    assert until(lambda: resolver.get(REF).version == "1.2.0", within=5) is not None


def test_sqlite_ttl_checks_cost_no_query_until_another_connection_commits(
    sqlite_url: str, library: PromptLibrary,
) -> None:
    registry = published(sqlite_url, library)
    resolver = Resolver(Registry(sqlite_url), ttl=0.01, wait_s=10.0)
    assert resolver.get(REF).version == "1.2.0"
    assert isinstance(resolver._threads.watch, SqliteWatch)
    time.sleep(0.3)
    resolver.get(REF)  # one full check after the watcher started
    statements: list[str] = []
    event.listen(resolver.registry.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    for _ in range(30):
        time.sleep(0.02)
        assert resolver.get(REF).version == "1.2.0"
    assert statements == []  # thirty ttl checks, no query: data_version said nothing moved

    registry.pin("sentiment", "1.0.0", env="production", reason="another connection")
    assert until(lambda: resolver.get(REF).version == "1.0.0", within=5) is not None
    assert any("promptkit_pins" in s for s in statements)


def _listeners(registry: Registry) -> set[int]:
    with registry.engine.connect() as conn:
        return set(conn.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'promptkit-listen'"
        )).scalars())


def _ours(name: str) -> bool:
    return name.startswith("promptkit-") and name != "promptkit-registry"


@pytest.mark.parametrize("backend", PUSH_BACKENDS)
def test_close_stops_the_threads_and_closes_their_connections(
    backend: str, library: PromptLibrary, request: pytest.FixtureRequest,
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    registry = published(url, library)
    before = {t for t in threading.enumerate() if _ours(t.name)}
    resolver = Resolver(Registry(url), wait_s=10.0, heartbeat_s=0.2)
    resolver.get(REF)
    watch = resolver._threads.watch
    assert watch is not None
    started = {t for t in threading.enumerate() if _ours(t.name)} - before
    assert {t.name for t in started} == {f"promptkit-{watch.kind}", "promptkit-heartbeat"}
    if isinstance(watch, PgListener):
        assert until(lambda: watch.connected, within=10) is not None
        assert watch.backend_pid in _listeners(registry)
    resolver.close()
    assert not any(t.is_alive() for t in started)
    if isinstance(watch, PgListener):
        assert until(lambda: watch.backend_pid not in _listeners(registry), within=5) is not None


def test_a_resolver_nobody_closed_takes_its_watcher_along_when_it_goes(
    sqlite_url: str, library: PromptLibrary, close_resolvers: list[Resolver],
) -> None:
    published(sqlite_url, library)
    resolver = Resolver(Registry(sqlite_url), wait_s=10.0)
    resolver.get(REF)
    watch = resolver._threads.watch
    assert isinstance(watch, SqliteWatch) and watch.alive
    close_resolvers.clear()  # the fixture would close it: here nobody does
    del resolver
    gc.collect()
    assert until(lambda: not watch.alive, within=5) is not None


def test_push_off_starts_no_watcher(sqlite_url: str, library: PromptLibrary) -> None:
    published(sqlite_url, library)
    resolver = Resolver(Registry(sqlite_url), push=False)
    resolver.get(REF)
    assert resolver._threads.watch is None


@pytest.mark.mysql
def test_mysql_keeps_the_ttl_check(mysql_url: str, library: PromptLibrary) -> None:
    registry = published(mysql_url, library)
    resolver = Resolver(Registry(mysql_url), ttl=0.2, wait_s=10.0)
    resolver.get(REF)
    assert resolver._threads.watch is None
    registry.rollback("sentiment", env="production", reason="incident")
    assert until(lambda: resolver.get(REF).version == "1.1.0", within=5) is not None
