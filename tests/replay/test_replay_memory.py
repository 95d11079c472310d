"""A long replay keeps the recent cassettes parsed, not every one it ran: memory grows by a
cassette's keys per case, not by its recordings, and what was let go still replays and still
counts in the unused-recordings report."""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

import pytest
from replay_helpers import ask, sdk

import promptkit.replay.session as session_module
from promptkit.replay import ReplaySession
from promptkit.testing import FakeOpenAIServer

CASES = 60
QUESTION = "tell me about this: " + "words " * 3000  # ~18 KB asked, ~18 KB answered


async def record(fixtures: Path, base_url: str) -> None:
    with ReplaySession(fixtures, "once") as session:
        client = sdk(session, base_url)
        for i in range(CASES):
            with session.cassette(f"s/p@1/case-{i}.json"):
                await ask(client, f"{i} {QUESTION}")


async def replay_all(session: ReplaySession) -> tuple[int, int]:
    """Bytes held after the first ten cases and after all of them."""
    client = sdk(session)
    held = []
    for i in range(CASES):
        with session.cassette(f"s/p@1/case-{i}.json"):
            assert (await ask(client, f"{i} {QUESTION}")).startswith(f"echo: {i} ")
        if i in (9, CASES - 1):
            held.append(tracemalloc.get_traced_memory()[0])
    return held[0], held[1]


@pytest.mark.parametrize("kept", [4, 10**6], ids=["recent-kept", "all-kept"])
def test_replayed_cassettes_beyond_the_recent_ones_hold_only_their_keys(
        server: FakeOpenAIServer, fixtures: Path, monkeypatch: pytest.MonkeyPatch,
        kept: int) -> None:  # fmt: skip
    asyncio.run(record(fixtures, server.base_url))
    monkeypatch.setattr(session_module, "KEPT_PARSED", kept)
    session = ReplaySession(fixtures)
    tracemalloc.start()
    try:
        after_ten, after_all = asyncio.run(replay_all(session))
        assert not session.finish(), "every recording was used"
        after_finish = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    per_case = (after_all - after_ten) / (CASES - 10)
    print(f"\nKEPT_PARSED={kept}: {per_case / 1024:.1f} KiB held per replayed case")
    if kept == 4:
        assert per_case < 4096, "a let-go cassette keeps its keys, not its 36 KB of recordings"
        assert after_finish - after_all < 4096 * CASES, "finishing does not parse them again"
    else:
        assert per_case > 30_000, "the measure sees parsed recordings when they are kept"
    assert session.stats.replayed == CASES


def test_a_let_go_cassette_reports_its_unused_entries_and_replays_again(
        server: FakeOpenAIServer, fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> ReplaySession:
        with ReplaySession(fixtures, "once") as recorder:
            client = sdk(recorder, server.base_url)
            with recorder.cassette("s/p@1/shared.json"):
                await ask(client, "used")
                await ask(client, "never asked again")
        monkeypatch.setattr(session_module, "KEPT_PARSED", 1)
        session = ReplaySession(fixtures)
        client = sdk(session)
        with session.cassette("s/p@1/shared.json"):
            await ask(client, "used")
        with session.cassette("s/p@1/other.json"):  # pushes shared.json out of the recent
            pass
        with session.cassette("s/p@1/shared.json"):  # parsed again from the file
            assert await ask(client, "used") == "echo: used"
        return session

    session = asyncio.run(scenario())
    unused = session.finish()
    assert session.stats.replayed == 2
    assert [path.name for path, _ in unused.entries] == ["shared.json"]
