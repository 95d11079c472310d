"""No key ever reaches a cassette: not from the environment, the headers, the body or the answer."""

from __future__ import annotations

from pathlib import Path

import httpx2
import openai
import pytest
from replay_helpers import echo, messages

from promptkit.replay import ReplaySession, Scrubber
from promptkit.testing import FakeOpenAIServer

ENV_KEY = "sk-proj-Zq8verysecretKEYfromTheEnvironment0123"
TOKEN = "tok-internal-4f1c9a77e2"
CASE = "suite/p@1/secret.json"


def client(session: ReplaySession, url: str) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=session.transport())
    return openai.AsyncOpenAI(base_url=url, api_key=ENV_KEY, http_client=http, max_retries=0)


async def test_keys_in_env_headers_body_and_answer_never_reach_the_file(
    fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("ACME_SERVICE_TOKEN", TOKEN)
    leaky = messages(f"my key is {ENV_KEY}, token {TOKEN}, other sk-ant-api03-abcdefghijklmnop")
    extra = {"api_key": "plain-value-9", "provider": {"authorization": "Bearer abc.def.ghi"}}

    with FakeOpenAIServer(handler=echo, api_key=ENV_KEY) as fake:  # needs the real header
        session = ReplaySession(fixtures, "once")
        with session.cassette(CASE):
            live = await client(session, fake.base_url).chat.completions.create(
                model="fake-model", messages=leaky, extra_body=extra  # type: ignore[arg-type]
            )
        assert fake.chat_requests[0].headers["authorization"] == f"Bearer {ENV_KEY}"
    assert ENV_KEY in (live.choices[0].message.content or "")  # the answer echoed it

    text = (fixtures / CASE).read_text(encoding="utf-8")
    for secret in (ENV_KEY, TOKEN, "sk-ant-api03", "plain-value-9", "abc.def.ghi", "Bearer"):
        assert secret not in text
    assert "[REDACTED]" in text and "my key is [REDACTED]" in text

    replayer = ReplaySession(fixtures, "none")  # the scrubbed request still finds its answer
    with replayer.cassette(CASE):
        again = await client(replayer, "http://127.0.0.1:9/v1").chat.completions.create(
            model="fake-model", messages=leaky, extra_body=extra  # type: ignore[arg-type]
        )
    replayed = again.choices[0].message.content
    assert replayed == "echo: my key is [REDACTED], token [REDACTED], other [REDACTED]"


def test_scrubber_nets() -> None:
    scrub = Scrubber({"HOME": "/home/someone", "MY_PASSWORD": "hunter2hunter2", "SHORT_KEY": "abc"})
    assert scrub.text("path /home/someone and hunter2hunter2") == "path /home/someone and [REDACTED]"
    assert scrub.text("abc stays: too short to be a secret") == "abc stays: too short to be a secret"
    assert scrub.data({"Api-Key": "x1", "x-api-key": "", "n": 3, "list": ["gsk_" + "a" * 24]}) == {
        "Api-Key": "[REDACTED]", "x-api-key": "", "n": 3, "list": ["[REDACTED]"]
    }
    assert scrub.text("AKIAABCDEFGHIJKLMNOP AIza" + "b" * 35) == "[REDACTED] [REDACTED]"
    assert scrub.text("a sketch of sk-short and skill-based") == "a sketch of sk-short and skill-based"
