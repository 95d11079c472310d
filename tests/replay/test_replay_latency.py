"""A recording keeps how long the endpoint took, so a replayed run reports and asserts on
that latency; re-recording an unchanged answer leaves its file untouched."""

from __future__ import annotations

import json
import time
from pathlib import Path

from replay_helpers import ask, read, sdk

from promptkit.replay import ReplaySession, replay_tally
from promptkit.testing import FakeOpenAIServer, Reply

CASE = "suite/prompt@1.0.0/case.json"


async def record(fixtures: Path, mode: str, answer: str, latency: float = 1.0) -> str:
    session = ReplaySession(fixtures, mode)
    reply = Reply(content=answer, latency=latency)
    with FakeOpenAIServer(default=reply) as server, session.cassette(CASE):
        got = await ask(sdk(session, server.base_url), "How was it?")
    session.finish()
    return got


def stored_latencies(fixtures: Path) -> list[float]:
    return [e["response"]["latency_s"] for e in read(fixtures / CASE)["entries"].values()]


async def test_a_replay_reports_the_latency_the_endpoint_had(fixtures: Path) -> None:
    await record(fixtures, "once", "fine")
    [latency] = stored_latencies(fixtures)
    assert 1.0 <= latency < 30  # the endpoint's second, however loaded the machine
    session = ReplaySession(fixtures)
    with session.cassette(CASE), replay_tally() as tally:
        started = time.monotonic()
        assert await ask(sdk(session), "How was it?") == "fine"
        wall = time.monotonic() - started
    assert tally.recorded_latency_s == latency and wall < latency  # recorded, not measured


async def test_re_recording_an_unchanged_answer_changes_no_byte(fixtures: Path) -> None:
    await record(fixtures, "once", "fine")
    path = fixtures / CASE
    data = read(path)
    for entry in data["entries"].values():  # as a real endpoint does: a new id, a new time
        entry["response"]["body"].update(id="chatcmpl-old", created=1)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    before = (fixtures / CASE).read_bytes()
    await record(fixtures, "all", "fine", latency=0.05)
    assert (fixtures / CASE).read_bytes() == before
    await record(fixtures, "all", "great", latency=0.05)
    assert (fixtures / CASE).read_bytes() != before
    assert stored_latencies(fixtures)[0] < 1.0  # the new answer's own latency (0.05 s)


async def test_a_recording_from_before_latencies_were_kept_reports_none(fixtures: Path) -> None:
    await record(fixtures, "once", "fine")
    path = fixtures / CASE
    data = read(path)
    for entry in data["entries"].values():
        del entry["response"]["latency_s"]
    path.write_text(json.dumps(data))
    session = ReplaySession(fixtures)
    with session.cassette(CASE), replay_tally() as tally:
        await ask(sdk(session), "How was it?")
    assert (tally.replayed, tally.unknown, tally.recorded_latency_s) == (1, 1, None)
