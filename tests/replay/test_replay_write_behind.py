"""Recordings written behind the calls by one thread: the same files as written at once,
all of them at the session's end, at most the last flush interval lost to a SIGKILL, and a
failing write never fails a call."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from replay_helpers import ask, sdk

from promptkit.replay import ReplaySession
from promptkit.testing import FakeOpenAIServer

SCRIPT = Path(__file__).with_name("write_behind_run.py")
FLUSH_INTERVAL_S = 0.1  # the session's default write interval: the documented bound
SCHEDULING_SLACK_S = 0.5  # what a loaded 2-core machine may add before a batch is written


async def record(session: ReplaySession, base_url: str, cases: int) -> None:
    client = sdk(session, base_url)

    async def one(i: int) -> None:
        with session.cassette(f"s/p@1/case-{i}.json"):
            await ask(client, f"question {i}")

    await asyncio.gather(*(one(i) for i in range(cases)))


def fixed_clock() -> datetime:
    return datetime(2025, 5, 1, tzinfo=UTC)


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.json"))}


def test_written_behind_hold_the_same_recordings_and_all_are_there_at_finish(
        server: FakeOpenAIServer, tmp_path: Path) -> None:  # fmt: skip
    at_once, behind = tmp_path / "at_once", tmp_path / "behind"
    with ReplaySession(at_once, "all", clock=fixed_clock) as session:
        asyncio.run(record(session, server.base_url, 40))
    session = ReplaySession(behind, "all", write_behind=True, write_interval_s=60,
                            clock=fixed_clock)
    asyncio.run(record(session, server.base_url, 40))
    assert len(files(behind)) < 40, "a 60 s interval has not written them all yet"
    session.finish()
    mine, theirs = files(behind), files(at_once)
    assert len(mine) == 40 and mine.keys() == theirs.keys()
    assert _without_latency(mine) == _without_latency(theirs)


VOLATILE = (b'"latency_s"', b'"id"', b'"created"', b'"system_fingerprint"')
"""Lines two recordings of the same answers differ in: the server's ids, times, latency."""


def _without_latency(found: dict[str, bytes]) -> dict[str, list[bytes]]:
    return {k: [line for line in v.splitlines() if not any(f in line for f in VOLATILE)]
            for k, v in found.items()}


def test_a_failing_write_warns_never_fails_a_call_and_is_retried_at_finish(
        server: FakeOpenAIServer, tmp_path: Path) -> None:  # fmt: skip
    """The writer process may write no file bigger than 100 bytes (as on a full disk or
    quota: EFBIG): every call still succeeds, the failure is reported once, the recordings
    stay dirty, and `finish`, in this process, writes them all."""
    session = ReplaySession(tmp_path, "all", write_behind=True, write_interval_s=0.01)
    assert session._writer is not None
    with _file_size_limit(100):
        assert session._writer._child() is not None  # started with the limit
    with pytest.warns(RuntimeWarning, match=r"not written .* yet \(OSError\(.*File too large"
                      ) as seen:  # fmt: skip
        asyncio.run(record(session, server.base_url, 10))
        time.sleep(0.3)
    assert len([w for w in seen if "not written" in str(w.message)]) == 1, "once per kind"
    assert session.stats.recorded == 10 and not files(tmp_path)
    assert all(c.dirty for c in session._cassettes.values())
    session.finish()
    assert len(files(tmp_path)) == 10


@contextlib.contextmanager
def _file_size_limit(size: int) -> Iterator[None]:
    """Within the block (and in the processes started in it), a write past `size` bytes
    fails with EFBIG instead of raising SIGXFSZ."""
    resource = pytest.importorskip("resource", reason="file size limits are POSIX")
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an ignored signal stays so
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)     # through exec
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_when_the_writer_process_dies_this_process_writes_everything(
        server: FakeOpenAIServer, tmp_path: Path) -> None:  # fmt: skip
    session = ReplaySession(tmp_path, "all", write_behind=True, write_interval_s=0.01)
    asyncio.run(record(session, server.base_url, 20))
    time.sleep(0.2)
    writer = session._writer
    assert writer is not None and writer._process is not None, "the rounds went to a child"
    assert len(files(tmp_path)) == 20, "written by the child while the calls ran"
    os.kill(writer._process._process.pid, signal.SIGKILL)
    writer._process._process.wait()
    with pytest.warns(RuntimeWarning, match="writer process is gone"):
        asyncio.run(record(session, server.base_url, 40))
        session.finish()
    assert len(files(tmp_path)) == 40


def test_sigkill_loses_at_most_the_last_write_interval(
        server: FakeOpenAIServer, tmp_path: Path) -> None:  # fmt: skip
    """What a SIGKILL may lose is bounded by the writer's rounds: a case that ended before
    the last finished round took its batch is on disk. The rounds come every interval (the
    median gap between them, in the child's own clock, so that a loaded machine delaying one
    round does not decide the test)."""
    fixtures = tmp_path / "fixtures"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), server.base_url, str(fixtures), "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SCRIPT.parent), *sys.path])},
    )  # fmt: skip
    assert process.stdout is not None
    ended: dict[str, float] = {}
    rounds: list[float] = []
    for line in process.stdout:
        _read(line, ended, rounds)
        if len(ended) == 300:
            os.kill(process.pid, signal.SIGKILL)
            break
    rest, errors = process.communicate(timeout=30)
    for line in rest.splitlines():
        _read(line, ended, rounds)
    assert process.returncode == -signal.SIGKILL, errors
    written = {p.stem.removeprefix("case-") for p in fixtures.rglob("case-*.json")}
    lost = {case: at for case, at in ended.items() if case not in written}
    last_round = max(rounds)
    print(f"\nSIGKILL after {len(ended)} recorded cases and {len(rounds)} rounds: "
          f"{len(lost)} cassettes lost, all ended after the last round began")
    assert len(rounds) >= 2, "the writer wrote while the calls ran, not only at the end"
    assert all(at > last_round for at in lost.values()), (last_round, lost)
    gaps = sorted(b - a for a, b in itertools.pairwise(rounds))
    assert gaps[len(gaps) // 2] < FLUSH_INTERVAL_S + SCHEDULING_SLACK_S, gaps
    for path in fixtures.rglob("case-*.json"):
        assert path.read_bytes().endswith(b"}\n"), f"{path} is whole (written atomically)"


def _read(line: str, ended: dict[str, float], rounds: list[float]) -> None:
    """One line of the child's report: `done <case> <time>` or `wrote <time>`."""
    kind, *fields = line.split()
    if kind == "done":
        ended[fields[0]] = float(fields[1])
    elif kind == "wrote":
        rounds.append(float(fields[0]))
