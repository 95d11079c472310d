"""The fake server on the Anthropic Messages route, as the official `anthropic` SDK sees it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from promptkit.testing import FakeOpenAIServer, Reply, ToolCallReply
from promptkit.testing.fixtures import FAKE_API_KEY, fake_openai

anthropic = pytest.importorskip("anthropic", reason="the [anthropic] extra is not installed")

__all__ = ["fake_openai"]

ASK = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as started:
        yield started


def sdk(server: FakeOpenAIServer, **options: Any) -> Any:
    options = {"api_key": "sk-ant-test", "max_retries": 0, **options}
    return anthropic.Anthropic(base_url=server.anthropic_base_url, **options)


def ask(client: Any, **options: Any) -> Any:
    return client.messages.create(model="m", max_tokens=64, messages=ASK, **options)


def test_a_text_reply_is_a_message_with_usage_and_the_request_is_recorded(
    server: FakeOpenAIServer,
) -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 2, "cached_tokens": 4}
    server.enqueue(Reply(content="hello", usage=usage, model="claude-x"))
    raw = sdk(server).messages.with_raw_response.create(
        model="m", max_tokens=64, messages=ASK, system="be brief"
    )
    message = raw.parse()
    assert (message.id, message.type, message.role) == ("msg_0", "message", "assistant")
    assert [(b.type, b.text) for b in message.content] == [("text", "hello")]
    assert (message.model, message.stop_reason) == ("claude-x", "end_turn")
    assert message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (5, 4)
    assert (message.usage.output_tokens, message.usage.cache_creation_input_tokens) == (2, 0)
    assert raw.headers["request-id"] == "req_000000"
    (request,) = server.requests
    assert request.protocol == "anthropic" and request.path == "/v1/messages"
    assert request.headers["anthropic-version"]
    assert request.body == {"model": "m", "max_tokens": 64, "messages": ASK, "system": "be brief"}


def test_the_handler_sees_the_body_as_posted_and_json_content_is_its_text(
    server: FakeOpenAIServer,
) -> None:
    seen: list[dict[str, Any]] = []
    server.handler = lambda body, index: seen.append(body) or Reply(content={"a": 1})
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    message = ask(sdk(server), tools=tools, tool_choice={"type": "auto"})
    assert message.content[0].text == '{"a": 1}'
    assert seen[0]["tools"] == tools and seen[0]["tool_choice"] == {"type": "auto"}


def test_tool_calls_are_tool_use_blocks(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(tool_calls=[ToolCallReply("f", {"x": 1}), ToolCallReply("g", '{"y": 2}')]))
    message = ask(sdk(server))
    assert message.stop_reason == "tool_use"
    assert [(b.type, b.id, b.name, b.input) for b in message.content] == [
        ("tool_use", "toolu_0_0", "f", {"x": 1}),
        ("tool_use", "toolu_0_1", "g", {"y": 2}),
    ]
    assert all(isinstance(b, anthropic.types.ToolUseBlock) for b in message.content)


@pytest.mark.parametrize(
    ("reply", "stop_reason", "text"),
    [
        (Reply(refusal="I can't help with that"), "refusal", "I can't help with that"),
        (Reply(content="cut", finish_reason="length"), "max_tokens", "cut"),
        (Reply(content="paused", finish_reason="pause_turn"), "pause_turn", "paused"),
    ],
)
def test_finish_reasons_map_to_stop_reasons(
    server: FakeOpenAIServer, reply: Reply, stop_reason: str, text: str
) -> None:
    server.enqueue(reply)
    message = ask(sdk(server))
    assert message.stop_reason == stop_reason and message.content[0].text == text


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (400, "BadRequestError", "invalid_request_error"),
        (401, "AuthenticationError", "authentication_error"),
        (403, "PermissionDeniedError", "permission_error"),
        (404, "NotFoundError", "not_found_error"),
        (413, "ContentTooLargeError", "request_too_large"),
        (429, "RateLimitError", "rate_limit_error"),
        (500, "InternalServerError", "api_error"),
        (529, "OverloadedError", "overloaded_error"),
    ],
)
def test_status_replies_raise_the_sdks_own_errors_with_anthropics_body(
    server: FakeOpenAIServer, status: int, error: str, kind: str
) -> None:
    server.enqueue(Reply(status=status, retry_after=2))
    with pytest.raises(getattr(anthropic, error)) as caught:
        ask(sdk(server))
    assert isinstance(caught.value, anthropic.APIStatusError)
    assert (caught.value.status_code, caught.value.type) == (status, kind)
    assert caught.value.request_id == "req_000000"
    assert caught.value.body == {
        "type": "error",
        "error": {"type": kind, "message": f"fake server error {status}"},
        "request_id": "req_000000",
    }
    assert caught.value.response.headers["retry-after"] == "2"


def test_a_rate_limit_carries_retry_after_and_the_error_code(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(status=429, retry_after=0.1, error_code="rate_limit_exceeded"))
    with pytest.raises(anthropic.RateLimitError) as caught:
        ask(sdk(server))
    assert caught.value.response.headers["retry-after"] == "0.1"
    assert caught.value.error_code == "rate_limit_exceeded"


def test_malformed_reset_and_hang_as_the_sdk_sees_them(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(malformed=True), Reply(reset=True), Reply(hang=True))
    client = sdk(server, timeout=0.2)
    with pytest.raises(ValueError):  # json.JSONDecodeError: half of a real message body
        ask(client)
    with pytest.raises(anthropic.APIConnectionError):
        ask(client)
    with pytest.raises(anthropic.APITimeoutError):
        ask(client)
    assert ask(client).content[0].text == "ok"


def test_fault_rate_applies_on_this_route() -> None:
    with FakeOpenAIServer(fault_rate=1.0, faults=[Reply(status=529)]) as server:
        with pytest.raises(anthropic.OverloadedError):
            ask(sdk(server))
        assert server.requests[0].fault


@pytest.mark.parametrize(
    "credentials",
    [
        {"api_key": "sk-ant-test"},  # sent as `Authorization: Bearer` by the 2.x SDK
        {"api_key": None, "default_headers": {"x-api-key": "sk-ant-test"}},  # as 0.x sent it
    ],
    ids=["bearer", "x-api-key"],
)
def test_the_api_key_is_read_from_either_header_the_sdk_sends(
    server: FakeOpenAIServer, credentials: dict[str, Any]
) -> None:
    server.api_key = "sk-ant-test"
    assert ask(sdk(server, **credentials)).content[0].text == "ok"
    assert ("x-api-key" in server.requests[0].headers) == ("default_headers" in credentials)
    server.api_key = "sk-other"
    with pytest.raises(anthropic.AuthenticationError) as caught:
        ask(sdk(server, **credentials))
    assert caught.value.type == "authentication_error"


def test_a_stream_follows_the_real_event_sequence(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content="hello world", chunk_size=4))
    events = list(ask(sdk(server), stream=True))  # the SDK drops the ping
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == "hello world"
    assert (events[-2].delta.stop_reason, events[-2].usage.output_tokens) == ("end_turn", 2)


def test_the_wire_carries_event_lines_and_a_ping(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content="hi"))
    with ask(sdk(server), stream=True) as stream:
        names = [sse.event for sse in stream.raw_events(stream.response)]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_the_sdks_stream_helper_adds_up_text_and_tool_input(server: FakeOpenAIServer) -> None:
    call = ToolCallReply("f", {"city": "Paris"})
    server.enqueue(Reply(content="hello streaming world", tool_calls=[call], chunk_size=5))
    with sdk(server).messages.stream(model="m", max_tokens=64, messages=ASK) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "hello streaming world" and final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [
        ("text", None),
        ("tool_use", {"city": "Paris"}),
    ]


def test_a_cut_stream_stops_after_n_deltas_without_message_stop(server: FakeOpenAIServer) -> None:
    cut = Reply(content="hello streaming world", chunk_size=5, stream_cut_after=2)
    server.enqueue(cut, cut)
    client = sdk(server)
    events = list(ask(client, stream=True))
    assert events[-1].type == "content_block_delta"
    assert "message_stop" not in {e.type for e in events}
    with client.messages.stream(model="m", max_tokens=64, messages=ASK) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "hello stre" and final.stop_reason is None


def test_the_fixture_points_the_anthropic_sdk_at_the_server(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.enqueue(Reply(content="from the fixture"))
    fake_openai.api_key = FAKE_API_KEY
    message = ask(anthropic.Anthropic(max_retries=0))
    assert message.content[0].text == "from the fixture"
    assert fake_openai.requests[0].protocol == "anthropic"
