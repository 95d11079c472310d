"""Through the real core (its `transport=` seam): validation, re-asks and usage run offline alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptkit.core import AsyncClient, Client, ModelConfig, OutputSpec
from promptkit.errors import ReplayMissError
from promptkit.replay import ReplaySession
from promptkit.testing import FakeOpenAIServer, Reply

PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}  # fmt: skip
ASK = [{"role": "system", "content": "You extract people."}, {"role": "user", "content": "Ada, 36"}]
SCHEMA = OutputSpec(mode="json_schema", schema=PERSON)
CASE = "people/extract@1.0.0/ada.json"


def config(url: str) -> ModelConfig:
    return ModelConfig(name="main", model="fake-main", base_url=url, api_key_env="")


async def test_a_re_ask_records_both_turns_and_replays_them_offline(fixtures: Path) -> None:
    replies = [Reply(content={"name": "Ada"}), Reply(content={"name": "Ada", "age": 36},
                                                      usage={"prompt_tokens": 50})]  # fmt: skip
    with FakeOpenAIServer(replies) as fake:
        recorder = ReplaySession(fixtures, "once")
        async with AsyncClient([config(fake.base_url)], transport=recorder.transport()) as client:
            with recorder.cassette(CASE):
                live = await client.call(ASK, config="main", output=SCHEMA)
        assert len(fake.chat_requests) == 2

    replayer = ReplaySession(fixtures)
    offline_config = config("http://127.0.0.1:9/v1")
    async with AsyncClient([offline_config], transport=replayer.transport()) as client:
        with replayer.cassette(CASE):
            offline = await client.call(ASK, config="main", output=SCHEMA)

    assert offline.output == live.output == {"name": "Ada", "age": 36}
    assert offline.usage == live.usage and offline.usage.input_tokens == 50
    assert [a.kind for a in offline.attempts] == [a.kind for a in live.attempts]
    assert len(offline.attempts) == 2 and replayer.stats.replayed == 2


def test_the_sync_client_carries_the_cassette_into_its_loop_thread(fixtures: Path) -> None:
    with FakeOpenAIServer([Reply(content={"name": "Ada", "age": 36})]) as fake:
        recorder = ReplaySession(fixtures, "once")
        client = Client([config(fake.base_url)], transport=recorder.transport())
        with client, recorder.cassette(CASE):
            live = client.call(ASK, config="main", output=SCHEMA)
    replayer = ReplaySession(fixtures)
    client = Client([config("http://127.0.0.1:9/v1")], transport=replayer.transport())
    with client, replayer.cassette(CASE):
        assert client.call(ASK, config="main", output=SCHEMA).output == live.output


async def test_a_miss_reaches_the_caller_as_itself_with_one_attempt(fixtures: Path) -> None:
    replayer = ReplaySession(fixtures)
    offline = config("http://127.0.0.1:9/v1").model_copy(update={"max_retries": 3})
    async with AsyncClient([offline], transport=replayer.transport()) as client:
        with replayer.cassette(CASE), pytest.raises(ReplayMissError, match="record mode none"):
            await client.call(ASK, config="main", output=SCHEMA)
    assert replayer.stats.missed == 1
