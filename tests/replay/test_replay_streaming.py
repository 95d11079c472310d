"""Streamed answers (server-sent events) record as their events and replay as text/event-stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
from replay_helpers import CLOSED_URL, messages, read, sdk

from promptkit.replay import ReplaySession
from promptkit.replay.responses import REPLAY_HEADER, decode_events, encode_events
from promptkit.testing import FakeOpenAIServer, Reply, ToolCallReply

CASE = "s/p@1/stream.json"


async def stream(client: Any, text: str) -> tuple[str, list[Any], Any]:
    """The streamed text, the chunks' finish reasons and the usage chunk's usage."""
    chunks = await client.chat.completions.create(
        model="fake-model", messages=messages(text), stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    text_parts, finishes, usage = [], [], None
    async for chunk in chunks:
        for choice in chunk.choices:
            text_parts.append(choice.delta.content or "")
            finishes.append(choice.finish_reason)
        usage = chunk.usage or usage
    return "".join(text_parts), finishes, usage


async def test_a_stream_records_and_replays_offline(fixtures: Path) -> None:
    reply = Reply(content="a streamed answer, in several chunks", chunk_size=8)
    with FakeOpenAIServer([reply]) as fake:
        session = ReplaySession(fixtures, "once")
        with session.cassette(CASE):
            live = await stream(sdk(session, fake.base_url), "hi")

    replayer = ReplaySession(fixtures)
    with replayer.cassette(CASE):
        offline = await stream(sdk(replayer, CLOSED_URL), "hi")

    assert offline == live
    assert live[0] == "a streamed answer, in several chunks" and live[1][-1] == "stop"
    assert live[2] is not None and live[2].total_tokens > 0
    (entry,) = read(fixtures / CASE)["entries"].values()
    assert entry["request"]["body"]["stream_options"] == {"include_usage": True}
    events = entry["response"]["events"]
    assert events[-1] == {"data": "[DONE]"}
    assert events[1]["data"]["choices"][0]["delta"] == {"content": "a stream"}  # parsed JSON
    assert "body" not in entry["response"]


async def test_streamed_tool_calls_replay(fixtures: Path) -> None:
    reply = Reply(tool_calls=[ToolCallReply("classify", {"label": "positive"})], chunk_size=5)
    with FakeOpenAIServer([reply]) as fake:
        session = ReplaySession(fixtures, "once")
        with session.cassette(CASE):
            await stream(sdk(session, fake.base_url), "tool")
    replayer = ReplaySession(fixtures)
    with replayer.cassette(CASE):
        chunks = await sdk(replayer).chat.completions.create(
            model="fake-model", messages=messages("tool"), stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        arguments = ""
        async for chunk in chunks:
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or []:
                    arguments += call.function.arguments or ""  # type: ignore[union-attr]
    assert arguments == '{"label": "positive"}'


async def test_replayed_stream_is_event_stream_with_the_key(fixtures: Path) -> None:
    with FakeOpenAIServer() as fake:
        session = ReplaySession(fixtures, "once")
        with session.cassette(CASE):
            await stream(sdk(session, fake.base_url), "hi")
    replayer = ReplaySession(fixtures)
    with replayer.cassette(CASE):
        client = sdk(replayer)
        raw = await client.chat.completions.with_raw_response.create(
            model="fake-model", messages=messages("hi"), stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        )  # fmt: skip
        assert raw.headers["content-type"] == "text/event-stream"
        assert raw.headers[REPLAY_HEADER].startswith("sha256:")
        await raw.parse().close()


def test_events_round_trip_names_multiline_and_raw_data() -> None:
    body = (b"event: response.created\ndata: {\"type\": \"response.created\"}\n\n"
            b": a comment\ndata: line one\ndata: line two\n\n"
            b"data: [1, 2]\r\n\r\ndata: {not json\n\ndata: [DONE]\n\n")  # fmt: skip
    events = decode_events(body)
    assert events == [
        {"event": "response.created", "data": {"type": "response.created"}},
        {"data": "line one\nline two"},
        {"data": [1, 2]},
        {"data": "{not json"},
        {"data": "[DONE]"},
    ]
    assert decode_events(encode_events(events)) == events
    response = httpx2.Response(200, content=encode_events(events))
    assert response.text.startswith('event: response.created\ndata: {"type": "response.created"}')
