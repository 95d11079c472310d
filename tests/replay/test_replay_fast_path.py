"""The replay fast path: a recorded JSON answer is found from the request's parts, above the
SDK, without building or sending an HTTP request; anything it cannot answer takes the HTTP
path, which replays, records or reports the miss exactly as before."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from promptkit.core import AsyncClient, ModelConfig, OutputSpec
from promptkit.errors import ReplayMissError
from promptkit.redact import Scrubber
from promptkit.replay import ReplaySession
from promptkit.replay.keys import canonical_json_request, canonical_request, request_key
from promptkit.replay.transport import ReplayTransport
from promptkit.testing import FakeOpenAIServer, Reply

PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}  # fmt: skip
SCHEMA = OutputSpec(mode="json_schema", schema=PERSON)
PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n tiny").decode()
ASKS = {
    "text": [{"role": "user", "content": "Ada, 36 — née Byron"}],
    "image": [{"role": "user", "content": [
        {"type": "text", "text": "Who is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]}],
}  # fmt: skip
OFFLINE = "http://127.0.0.1:9/v1"


def config(url: str, **fields: Any) -> ModelConfig:
    return ModelConfig(name="main", model="fake-main", base_url=url, api_key_env="", **fields)


@pytest.fixture
def http_path(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URL of every request that reached the replay transport's HTTP path."""
    seen: list[str] = []
    handle = ReplayTransport.handle_async_request

    async def counted(self: ReplayTransport, request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return await handle(self, request)

    monkeypatch.setattr(ReplayTransport, "handle_async_request", counted)
    return seen


async def _record(fixtures: Path, ask: list[dict[str, Any]], url_config: ModelConfig) -> Any:
    recorder = ReplaySession(fixtures, "once")
    async with AsyncClient([url_config], transport=recorder.transport()) as client:
        with recorder.cassette("case.json"):
            return await client.call(ask, config="main", output=SCHEMA, extra={"seed": 7})


@pytest.mark.parametrize("ask", sorted(ASKS))
async def test_a_recorded_answer_is_replayed_without_any_http_request(
    fixtures: Path, http_path: list[str], ask: str
) -> None:
    answer = Reply(content={"name": "Ada", "age": 36}, latency=0.2,
                   usage={"prompt_tokens": 40, "completion_tokens": 9})
    with FakeOpenAIServer([answer]) as fake:
        live = await _record(fixtures, ASKS[ask], config(fake.base_url))
    recorded = len(http_path)

    replayer = ReplaySession(fixtures)
    async with AsyncClient([config(OFFLINE)], transport=replayer.transport()) as client:
        with replayer.cassette("case.json"):
            offline = await client.call(ASKS[ask], config="main", output=SCHEMA,
                                        extra={"seed": 7})

    assert recorded == 1 and len(http_path) == 1  # the replay sent nothing through httpx2
    assert offline.output == live.output == {"name": "Ada", "age": 36}
    assert offline.usage == live.usage and offline.text == live.text
    assert [(a.kind, a.status) for a in offline.attempts] == [("first", 200)]
    assert replayer.stats.replayed == 1


async def test_a_changed_request_misses_through_the_http_path_with_the_same_diagnosis(
    fixtures: Path, http_path: list[str]
) -> None:
    with FakeOpenAIServer([Reply(content={"name": "Ada", "age": 36})]) as fake:
        await _record(fixtures, ASKS["text"], config(fake.base_url))
    replayer = ReplaySession(fixtures)
    async with AsyncClient([config(OFFLINE)], transport=replayer.transport()) as client:
        with replayer.cassette("case.json"), pytest.raises(ReplayMissError) as missed:
            await client.call([{"role": "user", "content": "Grace, 45"}], config="main",
                              output=SCHEMA, extra={"seed": 7})
    assert len(http_path) == 2  # the miss went the whole way, and was reported there
    assert "Grace, 45" in str(missed.value) and "case.json" in str(missed.value)


async def test_an_endpoint_with_a_query_string_replays_through_the_http_path(
    fixtures: Path, http_path: list[str]
) -> None:
    azure = {"query": {"api-version": "2024-10-21"}}
    with FakeOpenAIServer([Reply(content={"name": "Ada", "age": 36})]) as fake:
        live = await _record(fixtures, ASKS["text"], config(fake.base_url, **azure))
    replayer = ReplaySession(fixtures)
    async with AsyncClient([config(OFFLINE, **azure)], transport=replayer.transport()) as client:
        with replayer.cassette("case.json"):
            offline = await client.call(ASKS["text"], config="main", output=SCHEMA,
                                        extra={"seed": 7})
    assert offline.output == live.output and len(http_path) == 2


@pytest.mark.parametrize("ask", sorted(ASKS))
def test_the_key_from_the_parts_is_the_key_of_the_request_the_sdk_sends(ask: str) -> None:
    body = {"model": "m", "messages": ASKS[ask], "temperature": 0.2, "user": "run-7",
            "response_format": {"type": "json_schema", "json_schema": {"schema": PERSON}}}
    scrubber = Scrubber(environ={})
    sent = httpx2.Request("POST", "http://127.0.0.1:9/proxy/v1/chat/completions",
                          content=json.dumps(body).encode())
    from_parts = canonical_json_request("POST", "/proxy/v1/chat/completions", body, scrubber, 3)
    assert request_key(from_parts) == request_key(canonical_request(sent, scrubber, 3))


COMPLETIONS = {
    "text": {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
             "choices": [{"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": "hi"}}],
             "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6,
                       "prompt_tokens_details": {"cached_tokens": 4}}},
    "tools": {"id": "c2", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                  "role": "assistant", "content": None, "tool_calls": [
                      {"id": "t1", "type": "function",
                       "function": {"name": "lookup", "arguments": "{\"q\": 1}"}},
                      {"id": "t2", "type": "function", "function": {"name": "noop"}}]}}]},
    "refusal": {"id": "c3", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": None, "refusal": "I can't."}}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}},
    "no choices": {"id": "c4", "object": "chat.completion", "created": 1, "model": "m",
                   "choices": []},
}  # fmt: skip


@pytest.mark.parametrize("name", list(COMPLETIONS))
def test_a_recorded_answer_reads_as_the_sdk_parses_it(name: str) -> None:
    """The fast path reads the recorded JSON by attribute instead of building the SDK's
    model (which the SDK builds leniently, by `construct`, from an HTTP answer); every field
    a reply takes comes out the same, a malformed answer fails the same."""
    from openai.types.chat import ChatCompletion

    from promptkit.core.providers.openai_chat import _Fields, _reply

    recorded = COMPLETIONS[name]
    parsed = ChatCompletion.construct(**json.loads(json.dumps(recorded)))
    if not recorded["choices"]:
        for completion in (parsed, _Fields(recorded)):
            with pytest.raises(Exception, match="not a chat completion with choices"):
                _reply(completion)
        return
    assert _reply(_Fields(recorded)) == _reply(parsed)
    assert recorded == COMPLETIONS[name], "read, never changed"
