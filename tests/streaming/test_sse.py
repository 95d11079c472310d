"""The SSE helper: frames of a stream for sync and async servers, errors as a final frame."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from promptkit.core import AsyncClient, Client, StreamEnd, TextDelta
from promptkit.core.sse import SSE_HEADERS, asgi_sse, event_frame, frame, sse_stream
from promptkit.testing import FakeOpenAIServer, Reply

from .conftest import ASK, config_for
from .sse_helpers import parse_frames, texts

TEXT = "Streaming, one frame at a time."


def test_a_frame_is_an_event_name_and_one_line_of_json() -> None:
    assert frame("delta", {"text": "a\nb", "n": 1}) == (
        b'event: delta\ndata: {"text":"a\\nb","n":1}\n\n'
    )
    assert event_frame(TextDelta("hé", 2)) == 'event: delta\ndata: {"text":"hé","attempt":2}\n\n'.encode()


def test_a_sync_stream_becomes_deltas_then_done(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content=TEXT, chunk_size=5))
    with Client([config_for(server)]) as client:
        frames = parse_frames(b"".join(sse_stream(client.stream(ASK, config="main"))))
    assert [e for e, _ in frames] == ["delta"] * 7 + ["done"]
    assert texts(frames) == TEXT
    done = frames[-1][1]
    assert done["output"] == TEXT and done["finish_reason"] == "stop"
    assert done["usage"]["output_tokens"] > 0 and done["attempts"] == 1
    assert len(done["call_id"]) == 32 and done["first_token_s"] <= done["latency_s"]


def test_a_failed_stream_ends_with_an_error_frame(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content=TEXT, chunk_size=5, stream_cut_after=3))
    with Client([config_for(server)]) as client:
        frames = parse_frames(b"".join(sse_stream(client.stream(ASK, config="main"))))
    assert [e for e, _ in frames] == ["delta", "delta", "error"]
    assert frames[-1][1]["type"] == "TruncatedOutputError"
    assert "without a finish_reason" in frames[-1][1]["message"]


def test_an_error_that_is_not_promptkits_is_logged_not_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> Iterator[Any]:
        yield TextDelta("partial")
        raise RuntimeError("password=hunter2 in a traceback")

    with caplog.at_level(logging.ERROR, logger="promptkit.sse"):
        frames = parse_frames(b"".join(sse_stream(broken())))
    assert frames == [
        ("delta", {"text": "partial", "attempt": 0}),
        ("error", {"type": "InternalError", "message": "the server failed"}),
    ]
    assert "hunter2" in caplog.text


async def test_the_asgi_adapter_sends_headers_then_each_frame(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content=TEXT, chunk_size=10))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with AsyncClient([config_for(server)]) as client:
        await asgi_sse(send, client.stream(ASK, config="main"))
    start, *bodies = sent
    assert start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert all(m["more_body"] for m in bodies[:-1]) and bodies[-1] == {
        "type": "http.response.body", "body": b"", "more_body": False}  # fmt: skip
    frames = parse_frames(b"".join(m["body"] for m in bodies))
    assert len(bodies) == len(frames) + 1, "one body message per frame, as it came"
    assert texts(frames) == TEXT and frames[-1][0] == "done"


def test_headers_say_event_stream_and_no_buffering() -> None:
    headers = dict(SSE_HEADERS)
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Cache-Control"] == "no-cache" and headers["X-Accel-Buffering"] == "no"


def test_stream_end_is_always_last(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content=TEXT))
    with Client([config_for(server)]) as client:
        events = list(client.stream(ASK, config="main"))
    assert isinstance(events[-1], StreamEnd)
    assert sum(isinstance(e, StreamEnd) for e in events) == 1
