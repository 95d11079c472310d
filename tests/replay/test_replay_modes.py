"""Each record mode does what its name says: none, once, new, all, rewrite."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from replay_helpers import ask, read, sdk

from promptkit.errors import ReplayMissError, UsageError
from promptkit.replay import RecordMode, ReplaySession
from promptkit.testing import FakeOpenAIServer, Reply

CASE = "suite/prompt@1.0.0/case.json"


def numbered(body: dict[str, Any], index: int) -> Reply:
    """A different answer on every call, so a re-recording is visible."""
    return Reply(content=f"{body['messages'][-1]['content']} #{index}")


@pytest.fixture
def live() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(handler=numbered) as fake:
        yield fake


async def run(fixtures: Path, mode: str, url: str, *questions: str, case: str = CASE) -> list[str]:
    session = ReplaySession(fixtures, mode)
    with session.cassette(case):
        client = sdk(session, url)
        answers = [await ask(client, q) for q in questions]
    session.finish()
    return answers


def answers_in(path: Path) -> set[str]:
    entries = read(path)["entries"].values()
    return {e["response"]["body"]["choices"][0]["message"]["content"] for e in entries}


def test_mode_names_parse_and_none_is_the_default(fixtures: Path) -> None:
    assert [m.value for m in RecordMode] == ["none", "once", "new", "all", "rewrite"]
    assert RecordMode.parse(" NEW ") is RecordMode.NEW
    assert ReplaySession(fixtures).mode is RecordMode.NONE
    with pytest.raises(UsageError, match=re.escape("use one of: none | once | new | all | rewrite")):
        RecordMode.parse("sometimes")


def test_only_mode_none_is_offline_and_a_session_block_finishes(live, fixtures: Path) -> None:
    assert [ReplaySession(fixtures, m).transport().offline for m in RecordMode] == [
        True, False, False, False, False
    ]
    with ReplaySession(fixtures, "once") as session, session.cassette(CASE):
        session.open(CASE).put("sha256:x", session.entry({"r": 1}, {"status": 200}))
    assert list(read(fixtures / CASE)["entries"]) == ["sha256:x"]
    with ReplaySession(fixtures, "rewrite"):
        pass
    assert not (fixtures / CASE).exists()  # unused, so rewrite's finish removed it


async def test_none_replays_and_never_calls_out(live, fixtures: Path) -> None:
    assert await run(fixtures, "once", live.base_url, "a") == ["a #0"]
    assert await run(fixtures, "none", live.base_url, "a") == ["a #0"]
    with pytest.raises(ReplayMissError):
        await run(fixtures, "none", live.base_url, "b")
    assert len(live.chat_requests) == 1


async def test_none_with_no_cassette_file_misses(live, fixtures: Path) -> None:
    with pytest.raises(ReplayMissError, match="no recorded request to compare with"):
        await run(fixtures, "none", live.base_url, "a")
    assert live.chat_requests == [] and not (fixtures / CASE).exists()


async def test_once_records_a_missing_cassette_then_only_replays(live, fixtures: Path) -> None:
    assert await run(fixtures, "once", live.base_url, "a", "b") == ["a #0", "b #1"]
    assert answers_in(fixtures / CASE) == {"a #0", "b #1"}
    assert await run(fixtures, "once", live.base_url, "a", "b") == ["a #0", "b #1"]
    with pytest.raises(ReplayMissError, match="--prompt-record=new to add this request"):
        await run(fixtures, "once", live.base_url, "c")
    assert len(live.chat_requests) == 2
    assert answers_in(fixtures / CASE) == {"a #0", "b #1"}


async def test_once_goes_by_the_file_at_session_start(live, fixtures: Path) -> None:
    """A cassette recorded earlier in the same session keeps recording (vcrpy's once)."""
    session = ReplaySession(fixtures, "once")
    for question in ("a", "b"):
        with session.cassette(CASE):
            await ask(sdk(session, live.base_url), question)
    assert answers_in(fixtures / CASE) == {"a #0", "b #1"}


async def test_new_replays_what_exists_and_adds_the_rest(live, fixtures: Path) -> None:
    await run(fixtures, "once", live.base_url, "a")
    assert await run(fixtures, "new", live.base_url, "a", "b") == ["a #0", "b #1"]
    assert answers_in(fixtures / CASE) == {"a #0", "b #1"}
    assert len(live.chat_requests) == 2


async def test_all_calls_every_time_and_overwrites(live, fixtures: Path) -> None:
    await run(fixtures, "once", live.base_url, "a", "b")
    assert await run(fixtures, "all", live.base_url, "a") == ["a #2"]
    assert answers_in(fixtures / CASE) == {"a #2", "b #1"}  # all keeps what it did not touch
    assert len(live.chat_requests) == 3


async def test_rewrite_re_records_and_drops_everything_unused(live, fixtures: Path) -> None:
    await run(fixtures, "once", live.base_url, "a", "b")
    await run(fixtures, "once", live.base_url, "z", case="suite/prompt@1.0.0/gone.json")
    dataset = fixtures / "suite" / "data.json"
    dataset.write_text('{"not": "a cassette"}\n', encoding="utf-8")

    assert await run(fixtures, "rewrite", live.base_url, "a") == ["a #3"]

    assert answers_in(fixtures / CASE) == {"a #3"}  # the unused entry "b" is gone
    assert not (fixtures / "suite/prompt@1.0.0/gone.json").exists()  # the unused cassette too
    assert dataset.read_text(encoding="utf-8") == '{"not": "a cassette"}\n'  # not ours: kept


async def test_duplicate_requests_in_a_recording_cassette_replay_the_first(
    live, fixtures: Path
) -> None:
    assert await run(fixtures, "new", live.base_url, "a", "a") == ["a #0", "a #0"]
    assert len(live.chat_requests) == 1
