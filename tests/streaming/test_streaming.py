"""Streamed calls over a real socket: deltas as they come, the result validated at the end,
retries only before the first token, and a stream cut short always an error."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from promptkit.core import (
    AsyncClient,
    CallLog,
    CallRecord,
    Client,
    JSONLSink,
    OutputSpec,
    Restart,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from promptkit.errors import RetriesExhaustedError, TruncatedOutputError
from promptkit.testing import FakeOpenAIServer, Reply, ToolCallReply

from .conftest import ASK, FAST, config_for

TEXT = "The quick brown fox jumps over the lazy dog, twice over."
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def collect(client: AsyncClient, **options: Any) -> list[Any]:
    return [event async for event in client.stream(ASK, config="main", **options)]


async def test_deltas_come_as_they_arrive_then_the_result(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content=TEXT, chunk_size=6, chunk_delay=0.01))
    async with AsyncClient([config_for(server)], retry=FAST) as client:
        events = await collect(client)
    deltas, end = events[:-1], events[-1]
    assert all(isinstance(e, TextDelta) for e in deltas) and len(deltas) == 10
    assert text_of(deltas) == TEXT
    assert isinstance(end, StreamEnd) and end.result.output == TEXT
    result = end.result
    assert result.finish_reason == "stop" and result.usage.output_tokens > 0
    assert result.attempts[0].usage == result.usage, "usage came in the stream's last chunk"
    assert result.first_token_s is not None and 0 < result.first_token_s <= result.latency_s
    assert result.attempts[0].duration_s >= 12 * 0.01, "the attempt lasts until its last chunk"
    (request,) = server.chat_requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}


def test_the_sync_client_streams_through_the_same_loop(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(status=500), Reply(content=TEXT, chunk_size=8))
    with Client([config_for(server)], retry=FAST) as client:
        events = list(client.stream(ASK, config="main"))
    assert text_of(events) == TEXT
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert [(a.kind, a.status) for a in end.result.attempts] == [("first", 500), ("retry", 200)]


async def test_tool_call_deltas_assemble_into_validated_arguments(
    server: FakeOpenAIServer,
) -> None:
    tool = ToolSpec(name="classify", parameters={
        "type": "object", "properties": {"label": {"enum": ["positive", "negative"]}},
        "required": ["label"]})  # fmt: skip
    server.enqueue(Reply(tool_calls=[ToolCallReply("classify", {"label": "positive"})],
                         chunk_size=5))  # fmt: skip
    async with AsyncClient([config_for(server)]) as client:
        events = await collect(client, output=OutputSpec(mode="tool", tool=tool))
    pieces = [e for e in events if isinstance(e, ToolCallDelta)]
    assert pieces[0].name == "classify" and pieces[0].id == "call_0"
    assert "".join(p.arguments for p in pieces) == '{"label": "positive"}'
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].result.output == {"label": "positive"}


async def test_validation_runs_on_the_assembled_output_and_a_reask_restarts(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Reply(content={"name": "Ada"}, chunk_size=4),
                   Reply(content={"name": "Ada", "age": 36}, chunk_size=4))  # fmt: skip
    output = OutputSpec(mode="json_schema", schema=PERSON)
    async with AsyncClient([config_for(server)]) as client:
        events = await collect(client, output=output)
    (restart,) = [e for e in events if isinstance(e, Restart)]
    cut = events.index(restart)
    assert json.loads(text_of(events[:cut])) == {"name": "Ada"}
    assert restart.reason == "reask" and "'age' is a required property" in restart.errors[0]
    assert json.loads(text_of(events[cut:])) == {"name": "Ada", "age": 36}
    assert {e.attempt for e in events[cut:] if isinstance(e, TextDelta)} == {restart.attempt}
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].result.output == {"name": "Ada", "age": 36}


@pytest.mark.parametrize("cut_after", [2, 3, 6])
async def test_a_stream_cut_after_its_first_token_raises_and_is_not_retried(
    server: FakeOpenAIServer, cut_after: int
) -> None:
    """Must show: a stream cut before its finish_reason raises, whatever it yielded."""
    server.enqueue(Reply(content=TEXT, chunk_size=4, stream_cut_after=cut_after),
                   Reply(content="a retry would have found this"))  # fmt: skip
    seen: list[Any] = []
    async with AsyncClient([config_for(server)], retry=FAST) as client:
        with pytest.raises(TruncatedOutputError, match="without a finish_reason") as caught:
            async for event in client.stream(ASK, config="main"):
                seen.append(event)
    assert len(server.chat_requests) == 1, "tokens were out: no retry"
    assert text_of(seen) == TEXT[: 4 * (cut_after - 1)]
    assert not any(isinstance(e, StreamEnd) for e in seen)
    error = caught.value
    assert error.last_output == text_of(seen)
    assert [(a.status, a.error_type) for a in error.attempts] == [(200, "TruncatedOutputError")]


async def test_a_stream_cut_before_its_first_token_is_retried(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content=TEXT, stream_cut_after=1), Reply(content=TEXT))
    async with AsyncClient([config_for(server)], retry=FAST) as client:
        events = await collect(client)
    assert text_of(events) == TEXT
    result = events[-1].result
    assert [(a.kind, a.error_type) for a in result.attempts] == [
        ("first", "StreamCut"),
        ("retry", None),
    ]


async def test_every_attempt_cut_before_a_token_exhausts_the_retries(
    server: FakeOpenAIServer,
) -> None:
    server.default = Reply(content=TEXT, stream_cut_after=1)
    async with AsyncClient([config_for(server)], retry=FAST) as client:
        with pytest.raises(RetriesExhaustedError, match="StreamCut"):
            await collect(client)
    assert len(server.chat_requests) == FAST.max_attempts


async def test_finish_reason_length_is_a_truncation(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content=TEXT, finish_reason="length", chunk_size=8))
    async with AsyncClient([config_for(server)]) as client:
        with pytest.raises(TruncatedOutputError, match="token limit"):
            await collect(client, max_tokens=12)


class Records:
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def before_round(self, context: Any) -> None:
        return None

    def after_call(self, record: CallRecord) -> None:
        self.records.append(record)


async def test_leaving_a_stream_early_cancels_the_call_and_it_is_still_observed(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Reply(content=TEXT, chunk_size=2, chunk_delay=0.05))
    hook = Records()
    async with AsyncClient([config_for(server)], hooks=[hook]) as client:
        stream = client.stream(ASK, config="main")
        async with contextlib.aclosing(stream):
            async for event in stream:
                assert isinstance(event, TextDelta)
                break
    (record,) = hook.records
    assert record.error_type == "CancelledError" and record.stream
    assert record.first_token_s is not None


def test_a_streamed_call_is_logged_with_usage_and_time_to_first_token(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    server.enqueue(Reply(content=TEXT, chunk_size=8))
    log = CallLog([JSONLSink(tmp_path / "calls.jsonl")], handle_sigterm=False)
    with Client([config_for(server, temperature=0.3)], hooks=[log]) as client:
        end = list(client.stream(ASK, config="main", metadata={"prompt": "p"}))[-1]
    log.close()
    (line,) = (tmp_path / "calls.jsonl").read_text().splitlines()
    row = json.loads(line)
    assert row["id"] == end.result.call_id and row["stream"] is True
    assert row["raw_output"] == TEXT and row["finish_reason"] == "stop"
    assert row["first_token_s"] == pytest.approx(end.result.first_token_s)
    assert row["output_tokens"] == end.result.usage.output_tokens > 0
    assert row["temperature_requested"] == row["temperature_effective"] == 0.3


def test_a_stream_records_and_replays_offline_through_the_core(tmp_path: Path) -> None:
    from promptkit.replay import ReplaySession

    with FakeOpenAIServer([Reply(content=TEXT, chunk_size=7)]) as fake:
        recorder = ReplaySession(tmp_path, "once")
        with Client([config_for(fake)], transport=recorder.transport()) as client, \
                recorder.cassette("s/stream.json"):  # fmt: skip
            live = list(client.stream(ASK, config="main"))
    replayer = ReplaySession(tmp_path)
    offline_config = config_for(fake).model_copy(update={"base_url": "http://127.0.0.1:9/v1"})
    with Client([offline_config], transport=replayer.transport()) as client, \
            replayer.cassette("s/stream.json"):  # fmt: skip
        offline = list(client.stream(ASK, config="main"))
    assert [e for e in offline if isinstance(e, TextDelta)] == [
        e for e in live if isinstance(e, TextDelta)]  # fmt: skip
    assert offline[-1].result.usage == live[-1].result.usage
    assert replayer.stats.replayed == 1
