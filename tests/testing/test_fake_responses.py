"""The fake server on the OpenAI Responses route, as the official `openai` SDK sees it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from promptkit.testing import FakeOpenAIServer, Reply, ToolCallReply

JSON_FORMAT = {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as started:
        yield started


def sdk(server: FakeOpenAIServer, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, **options)


def ask(client: openai.OpenAI, **options: Any) -> Any:
    return client.responses.create(model="m", input="hi", **options)


def test_a_text_reply_is_a_response_with_usage_and_the_request_is_recorded(
    server: FakeOpenAIServer,
) -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 2, "cached_tokens": 4}
    server.enqueue(Reply(content="hello", usage=usage, model="m-2025"))
    raw = sdk(server).responses.with_raw_response.create(model="m", input="hi", instructions="be")
    response = raw.parse()
    assert (response.id, response.object, response.status) == ("resp_0", "response", "completed")
    assert response.output_text == "hello" and response.model == "m-2025"
    (message,) = response.output
    assert message.type == "message" and message.content[0].type == "output_text"
    assert response.usage is not None and response.usage.input_tokens == 9
    assert response.usage.input_tokens_details.cached_tokens == 4
    assert (response.usage.output_tokens, response.usage.total_tokens) == (2, 11)
    assert raw.headers["x-request-id"] == "req_000000"
    (request,) = server.requests
    assert request.protocol == "responses" and request.path == "/v1/responses"
    assert request.body == {"model": "m", "input": "hi", "instructions": "be"}
    assert not server.chat_requests


def test_the_handler_sees_the_body_as_posted_and_json_content_is_its_text(
    server: FakeOpenAIServer,
) -> None:
    seen: list[dict[str, Any]] = []
    server.handler = lambda body, index: seen.append(body) or Reply(content={"a": 1})
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}}]
    response = ask(sdk(server), text=JSON_FORMAT, tools=tools)
    assert response.output_text == '{"a": 1}'
    assert seen[0]["text"] == JSON_FORMAT and seen[0]["tools"] == tools
    assert response.text.format.type == "json_schema"  # the settings are echoed back


def test_tool_calls_are_function_call_items(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(tool_calls=[ToolCallReply("f", {"x": 1}), ToolCallReply("g", "{bad")]))
    response = ask(sdk(server))
    calls = [(i.type, i.id, i.call_id, i.name, i.arguments) for i in response.output]
    assert calls == [
        ("function_call", "fc_0_0", "call_0", "f", '{"x": 1}'),
        ("function_call", "fc_0_1", "call_1", "g", "{bad"),
    ]
    assert response.output_text == ""


def test_a_refusal_is_a_refusal_part_and_length_makes_it_incomplete(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Reply(refusal="no"), Reply(content="cut", finish_reason="length"))
    client = sdk(server)
    (part,) = ask(client).output[0].content
    assert (part.type, part.refusal) == ("refusal", "no")
    truncated = ask(client)
    assert truncated.status == "incomplete" and truncated.output[0].status == "incomplete"
    assert truncated.incomplete_details is not None
    assert truncated.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_status_replies_raise_the_sdks_own_errors(
    server: FakeOpenAIServer, status: int, error: type[openai.APIStatusError]
) -> None:
    server.enqueue(Reply(status=status, retry_after=0.5, error_code="some_code"))
    with pytest.raises(error) as caught:
        ask(sdk(server))
    assert caught.value.status_code == status and caught.value.code == "some_code"
    assert caught.value.response.headers["retry-after"] == "0.5"
    assert caught.value.request_id == "req_000000"


def test_malformed_reset_and_hang_as_the_sdk_sees_them(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(malformed=True), Reply(reset=True), Reply(hang=True))
    client = sdk(server, timeout=0.2)
    with pytest.raises(ValueError):  # json.JSONDecodeError: half of a real response body
        ask(client)
    with pytest.raises(openai.APIConnectionError):
        ask(client)
    with pytest.raises(openai.APITimeoutError):
        ask(client)
    assert ask(client).output_text == "ok"


def test_fault_rate_applies_on_this_route() -> None:
    with FakeOpenAIServer(fault_rate=1.0, faults=[Reply(status=503)]) as server:
        with pytest.raises(openai.InternalServerError):
            ask(sdk(server))
        assert server.requests[0].fault


def test_the_api_key_is_read_from_the_bearer_header(server: FakeOpenAIServer) -> None:
    server.api_key = "sk-test"
    assert ask(sdk(server)).output_text == "ok"
    server.api_key = "sk-other"
    with pytest.raises(openai.AuthenticationError) as caught:
        ask(sdk(server))
    assert caught.value.code == "invalid_api_key"


def test_a_stream_follows_the_real_event_sequence(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content="hello world", chunk_size=4))
    events = list(ask(sdk(server), stream=True))
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.output_text == "hello world"


def test_the_sdks_stream_helper_adds_up_text_and_tool_call_arguments(
    server: FakeOpenAIServer,
) -> None:
    call = ToolCallReply("f", {"city": "Paris"})
    server.enqueue(Reply(content="hello streaming world", tool_calls=[call], chunk_size=5))
    with sdk(server).responses.stream(model="m", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "hello streaming world"
    assert [(i.type, getattr(i, "arguments", None)) for i in final.output] == [
        ("message", None),
        ("function_call", '{"city": "Paris"}'),
    ]


def test_a_length_stream_ends_incomplete(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply(content="cut here", finish_reason="length"))
    events = list(ask(sdk(server), stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


def test_a_cut_stream_stops_after_n_deltas_without_completing(server: FakeOpenAIServer) -> None:
    cut = Reply(content="hello streaming world", chunk_size=5, stream_cut_after=2)
    server.enqueue(cut, cut)
    client = sdk(server)
    events = list(ask(client, stream=True))
    assert events[-1].type == "response.output_text.delta"
    assert "".join(e.delta for e in events if e.type.endswith(".delta")) == "hello stre"
    with client.responses.stream(model="m", input="hi") as stream:
        stream.until_done()
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            stream.get_final_response()
