"""A call-log database that stalls (a write that waits instead of failing: SQLite locked by
another connection, which makes the writer wait its 30 s busy timeout, or PostgreSQL behind
a proxy that holds every byte) does not hold the application: `close()` returns within its
deadline and says how many rows it could not write, and SIGTERM ends the process within its
flush deadline."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptkit.core import CallLog, Client
from promptkit.registry.calllog_sink import DatabaseSink
from promptkit.testing import FakeOpenAIServer, Reply

from .conftest import config_for


@pytest.fixture(params=["sqlite-locked", pytest.param("postgres-stalled",
                                                     marks=pytest.mark.postgres)])
def stalled_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a call-log database whose writers stall, its tables already made."""
    if request.param == "sqlite-locked":
        yield from _locked_sqlite(tmp_path / "calls.db")
    else:
        url, proxy = request.getfixturevalue("postgres_proxy_url")
        _migrated(url)
        proxy.stall()
        yield url


def _migrated(url: str) -> None:
    sink = DatabaseSink(url)
    sink.migrate()
    sink.close()


def _locked_sqlite(path: Path) -> Iterator[str]:
    """SQLite held exclusively by another connection."""
    _migrated(f"sqlite:///{path}")
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    yield f"sqlite:///{path}"
    holder.execute("ROLLBACK")
    holder.close()


def test_close_keeps_its_deadline_and_counts_what_it_could_not_write(stalled_db: str) -> None:
    log = CallLog([DatabaseSink(stalled_db)], handle_sigterm=False, flush_interval_s=0.01)
    with FakeOpenAIServer(default=Reply(content="fine")) as server, \
            Client([config_for(server)], hooks=[log]) as client:
        for i in range(5):
            client.call([{"role": "user", "content": f"call {i}"}], config="main")
    time.sleep(0.2)  # the writer is now waiting on the lock
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log.close(timeout=1.0)
    took = time.monotonic() - started
    assert took < 2.0, took
    assert log.dropped == 5
    assert any("did not answer before close's deadline" in str(w.message) for w in caught)


SCRIPT = """
import signal, sys, time
from promptkit.core import CallLog, Client, ModelConfig
from promptkit.registry.calllog_sink import DatabaseSink
log = CallLog([DatabaseSink(sys.argv[2])], sigterm_timeout_s=1.0, flush_interval_s=0.01)
config = ModelConfig(name="main", model="m", base_url=sys.argv[1], api_key_env="")
with Client([config], hooks=[log]) as client:
    for i in range(3):
        client.call([{"role": "user", "content": f"call {i}"}], config="main")
    print("ready", flush=True)
    time.sleep(60)
"""


def test_sigterm_ends_the_process_within_its_flush_deadline(stalled_db: str) -> None:
    with FakeOpenAIServer(default=Reply(content="fine")) as server:
        process = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, server.base_url, stalled_db],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        started = time.monotonic()
        process.terminate()
        process.wait(timeout=30)
        took = time.monotonic() - started
    stderr = process.stderr.read() if process.stderr else ""
    assert took < 3.0, took
    assert process.returncode == -15  # the default action, after the flush gave up
    assert "3 row(s) lost" in stderr and "did not answer before close's deadline" in stderr
