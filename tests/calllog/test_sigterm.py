"""Must show: SIGTERM in the middle of a 1000-call run loses no completed call's row; a clean
exit writes every row too (the writer is flushed at exit); SIGKILL, which no process can
handle, loses at most the calls that ended in the last flush interval before it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from promptkit.testing import FakeOpenAIServer, Reply

SCRIPT = Path(__file__).with_name("sigterm_run.py")


@pytest.fixture
def model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(default=Reply(content="fine", latency=0.01)) as server:
        yield server


def start(model: FakeOpenAIServer, db: Path, calls: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), model.base_url, f"sqlite:///{db}", str(calls)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def stored_ids(db: Path) -> list[str]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        ids = list(conn.scalars(sa.text("SELECT id FROM promptkit_call_log")))
    engine.dispose()
    return ids


def test_sigterm_mid_run_loses_no_completed_call(model: FakeOpenAIServer, tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    process = start(model, db, 1000)
    assert process.stdout is not None
    done: list[str] = []
    for line in process.stdout:
        if line.startswith("done "):
            done.append(line.split()[1])
        if len(done) == 300:
            process.send_signal(signal.SIGTERM)
            break
    rest, errors = process.communicate(timeout=30)
    done += [line.split()[1] for line in rest.splitlines() if line.startswith("done ")]
    assert process.returncode == -signal.SIGTERM, errors
    ids = stored_ids(db)
    assert 300 <= len(done) < 1000, "the signal came mid-run"
    assert len(ids) == len(set(ids)), "no row twice"
    missing = set(done) - set(ids)
    assert not missing, f"{len(missing)} completed calls have no row"
    assert len(ids) - len(done) <= 8, "at most the calls in flight finished unprinted"
    print(f"\nSIGTERM after {len(done)} completed calls of 1000: {len(ids)} rows stored")


def test_a_clean_exit_writes_every_row(model: FakeOpenAIServer, tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    started = time.monotonic()
    out, errors = start(model, db, 40).communicate(timeout=60)
    assert errors == "" or "Warning" not in errors, errors
    done = [line.split()[1] for line in out.splitlines() if line.startswith("done ")]
    assert len(done) == 40 and sorted(stored_ids(db)) == sorted(done)
    assert time.monotonic() - started < 30


FLUSH_INTERVAL_S = 0.1  # CallLog's default: the documented bound of a SIGKILL's loss
SCHEDULING_SLACK_S = 0.4  # what a loaded 2-core machine may add before a batch commits


def test_sigkill_loses_at_most_the_last_flush_interval(
    model: FakeOpenAIServer, tmp_path: Path
) -> None:
    db = tmp_path / "calls.db"
    process = start(model, db, 1000)
    assert process.stdout is not None
    ended: dict[str, float] = {}
    for line in process.stdout:
        if line.startswith("done "):
            _, call_id, at = line.split()
            ended[call_id] = float(at)
        if len(ended) == 300:
            killed_at = time.monotonic()
            os.kill(process.pid, signal.SIGKILL)
            break
    rest, _ = process.communicate(timeout=30)
    for line in rest.splitlines():
        if line.startswith("done "):
            ended[line.split()[1]] = float(line.split()[2])
    assert process.returncode == -signal.SIGKILL
    stored = set(stored_ids(db))
    lost = {i: killed_at - at for i, at in ended.items() if i not in stored}
    print(f"\nSIGKILL after {len(ended)} completed calls: {len(lost)} rows lost, the oldest "
          f"ended {max(lost.values(), default=0) * 1000:.0f} ms before the kill")
    window = FLUSH_INTERVAL_S + SCHEDULING_SLACK_S
    assert all(age < window for age in lost.values()), lost
    older = {i for i, at in ended.items() if killed_at - at >= window}
    assert older, "the kill came after calls older than one flush window"
    assert older <= stored, "every call that ended before the last window has its row"
