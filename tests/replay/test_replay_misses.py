"""A miss names the cassette, the key, the nearest recording and how it differs; never retried."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from replay_helpers import ask, messages, sdk

from promptkit.errors import ReplayMissError
from promptkit.replay import ReplaySession
from promptkit.replay.misses import differences
from promptkit.testing import FakeOpenAIServer

FOLDER = "sentiment/sentiment@1.0.0"


async def record(fixtures: Path, url: str, case: str, text: str, **params) -> None:
    session = ReplaySession(fixtures, "once")
    with session.cassette(f"{FOLDER}/{case}.json"):
        await ask(sdk(session, url), text, **params)


async def replay(fixtures: Path, case: str, text: str, url: str = "http://127.0.0.1:9/v1",
                 mode: str = "none", **params) -> str:  # fmt: skip
    session = ReplaySession(fixtures, mode)
    with session.cassette(f"{FOLDER}/{case}.json"):
        return await ask(sdk(session, url), text, **params)


async def test_removed_recording_fails_with_nearest_then_once_records_it_again(
    server, fixtures: Path
) -> None:
    """Must show: a removed recording fails in mode none with the nearest-match message;
    --prompt-record=once against the fake server records it again."""
    await record(fixtures, server.base_url, "case-1", "I love it")
    await record(fixtures, server.base_url, "case-2", "I hate it")
    (fixtures / FOLDER / "case-2.json").unlink()

    with pytest.raises(ReplayMissError) as caught:
        await replay(fixtures, "case-2", "I hate it")
    error = caught.value
    message = str(error)
    assert f"fixtures/{FOLDER}/case-2.json (record mode none)" in message
    assert error.key is not None and f"request key: {error.key}" in message
    assert f"nearest recorded request: {error.nearest} in fixtures/{FOLDER}/case-1.json" in message
    assert error.differences == ["body.messages[1].content: 'I hate it' != 'I love it'"]
    assert "(1 difference; this request != recorded)" in message
    assert "--prompt-record=once" in message and "--prompt-record=new" in message

    requests_before = len(server.chat_requests)
    assert await replay(fixtures, "case-2", "I hate it", server.base_url, "once") == "echo: I hate it"
    assert len(server.chat_requests) == requests_before + 1
    server.stop()
    assert await replay(fixtures, "case-2", "I hate it") == "echo: I hate it"
    assert await replay(fixtures, "case-1", "I love it") == "echo: I love it"


async def test_nearest_prefers_the_fewest_differences(server, fixtures: Path) -> None:
    await record(fixtures, server.base_url, "case", "I love it", temperature=0.7)
    session = ReplaySession(fixtures, "new")
    with session.cassette(f"{FOLDER}/case.json"):
        await ask(sdk(session, server.base_url), "other words", temperature=0, seed=3)

    with pytest.raises(ReplayMissError) as caught:
        await replay(fixtures, "case", "I love it", temperature=0)
    assert caught.value.differences == ["body.temperature: 0 != 0.7"]
    assert f"{caught.value.nearest} (1 difference" in str(caught.value)  # same cassette: no path


async def test_a_miss_is_raised_once_unwrapped_and_not_retried(fixtures: Path) -> None:
    """The SDK retries connection errors; a ReplayMissError is none, so it passes straight up."""
    with FakeOpenAIServer() as fake:
        session = ReplaySession(fixtures, "none")
        start = time.monotonic()
        with session.cassette(f"{FOLDER}/nothing.json"), pytest.raises(ReplayMissError):
            await ask(sdk(session, fake.base_url, max_retries=5), "hello")
        elapsed = time.monotonic() - start
    assert session.stats.missed == 1  # one attempt; 5 retries would have backed off >= 2.5 s
    assert fake.requests == []
    assert elapsed < 2.0


def test_differences_are_json_paths_with_truncated_values() -> None:
    long_a = "The quick brown fox jumps over the lazy dog and keeps running " * 3 + "A"
    long_b = "The quick brown fox jumps over the lazy dog and keeps running " * 3 + "B"
    ours = {"body": {"messages": messages("x"), "model": "m", "stop": ["a"], "text": long_a}}
    theirs = {"body": {"messages": messages("x")[:1], "model": "m", "seed": 1, "text": long_b}}
    found = differences(ours, theirs)
    assert found[0] == (
        "body.messages[1]: {\"content\": \"x\", \"role\": \"user\"} != <absent>"
    )
    assert found[1] == "body.seed: <absent> != 1"
    assert found[2] == "body.stop: [\"a\"] != <absent>"
    assert found[3] == "body.text: '…g and keeps running A' != '…g and keeps running B'"
    assert differences({"n": 1}, {"n": 1.0}) == ["n: 1 != 1.0"]  # different keys, so shown
