"""Record from the fake server, stop it, replay: the SDK sees the same completion offline."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import openai
import pytest
from replay_helpers import ask, messages, read, sdk

from promptkit.core.transport import CURRENT_LOG, AttemptLog, RecordingAsyncClient
from promptkit.errors import UsageError
from promptkit.hashing import content_hash
from promptkit.replay import FORMAT, ReplaySession
from promptkit.testing import FakeOpenAIServer

CASE = "sentiment/sentiment@1.0.0/case-1.json"


async def test_recorded_answer_replays_with_the_server_stopped(server, fixtures: Path) -> None:
    recorder = ReplaySession(fixtures, "once")
    with recorder.cassette(CASE):
        live = await ask(sdk(recorder, server.base_url), "I love it")
    server.stop()

    replayer = ReplaySession(fixtures, "none")
    with replayer.cassette(CASE):
        replayed = await ask(sdk(replayer), "I love it")  # base URL: nobody listening

    assert live == replayed == "echo: I love it"
    assert len(server.chat_requests) == 1
    assert (recorder.stats.recorded, replayer.stats.replayed) == (1, 1)


async def test_the_whole_completion_round_trips(server, fixtures: Path) -> None:
    recorder = ReplaySession(fixtures, "once")
    create = {"model": "fake-model", "messages": messages("hi"), "temperature": 0}
    with recorder.cassette(CASE):
        live = await sdk(recorder, server.base_url).chat.completions.create(**create)
    replayer = ReplaySession(fixtures)
    with replayer.cassette(CASE):
        replayed = await sdk(replayer).chat.completions.create(**create)
    assert replayed.model_dump() == live.model_dump()


async def test_cassette_file_is_readable_sorted_and_verifiable(server, fixtures: Path) -> None:
    session = ReplaySession(fixtures, "new")
    with session.cassette(CASE):
        client = sdk(session, server.base_url)
        await ask(client, "b question")
        await ask(client, "a question", seed=7, user="run-42", metadata={"run": "x"})
    path = fixtures / CASE
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)

    assert document["format"] == FORMAT
    assert text == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert list(document["entries"]) == sorted(document["entries"])
    for key, entry in document["entries"].items():
        assert key == content_hash(entry["request"])  # the key is the hash of what is shown
        assert entry["request"]["endpoint"] == "POST /chat/completions"
        assert entry["response"]["status"] == 200
        assert entry["recorded_at"].endswith("Z")
        assert "headers" not in entry["request"] and "headers" not in entry["response"]
    seeded = next(e for e in document["entries"].values() if e["request"]["body"].get("seed"))
    assert seeded["request"]["body"]["messages"] == messages("a question")  # as sent, readable
    assert "user" not in seeded["request"]["body"] and "metadata" not in seeded["request"]["body"]
    assert seeded["response"]["body"]["choices"][0]["message"]["content"] == "echo: a question"


async def test_the_core_http_client_replays_and_logs_attempts(server, fixtures: Path) -> None:
    """The core's own httpx2 client (RecordingAsyncClient) takes the transport as-is."""
    session = ReplaySession(fixtures, "once")
    with session.cassette(CASE):
        http = RecordingAsyncClient(transport=session.transport())
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", http_client=http)
        await ask(client, "logged")
    server.stop()
    replayer = ReplaySession(fixtures)
    log = AttemptLog()
    token = CURRENT_LOG.set(log)
    try:
        with replayer.cassette(CASE):
            http = RecordingAsyncClient(transport=replayer.transport())
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", http_client=http)
            assert await ask(client, "logged") == "echo: logged"
    finally:
        CURRENT_LOG.reset(token)
    assert [a.status for a in log.attempts] == [200]


async def test_a_request_outside_any_cassette_is_a_usage_error(fixtures: Path) -> None:
    with pytest.raises(UsageError, match="no cassette active"):
        await ask(sdk(ReplaySession(fixtures)), "lost")


async def test_a_cassette_of_another_session_is_refused(fixtures: Path) -> None:
    mine, theirs = ReplaySession(fixtures), ReplaySession(fixtures)
    with theirs.cassette(CASE), pytest.raises(UsageError, match="belongs to"):
        await ask(sdk(mine), "crossed")


async def test_recordings_replay_against_any_base_url(fixtures: Path) -> None:
    """The key holds the API path from its resource on, not the host or a /v1 prefix."""
    with FakeOpenAIServer() as fake:
        session = ReplaySession(fixtures, "once")
        with session.cassette(CASE):
            await ask(sdk(session, fake.base_url), "portable")
    elsewhere = "http://127.0.0.1:9/some/proxy/openai/v1"
    replayer = ReplaySession(fixtures)
    with replayer.cassette(CASE):
        client = sdk(replayer, elsewhere)
        assert await ask(client, "portable") == "ok"


def test_replay_needs_no_event_loop_specific_state(fixtures: Path, server) -> None:
    """One transport serves clients on two event loops (the core keeps a client per loop)."""
    import asyncio

    session = ReplaySession(fixtures, "new")
    transport = session.transport()

    async def one(text: str) -> str:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0,
                                    http_client=httpx2.AsyncClient(transport=transport))
        with session.cassette(CASE):
            answer = await ask(client, text)
        await transport.aclose()
        return answer

    assert asyncio.run(one("first loop")) == "echo: first loop"
    assert asyncio.run(one("second loop")) == "echo: second loop"
    assert len(read(fixtures / CASE)["entries"]) == 2
